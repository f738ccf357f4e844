"""python -m meta_tests.catalogue DIR: every broken module written into DIR (default: broken/)."""
import sys

from meta_tests.catalogue import write

for path in write(sys.argv[1] if len(sys.argv) > 1 else "broken"):
    print(path)
