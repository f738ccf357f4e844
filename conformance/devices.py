"""The GPUs an implementation's frameworks see (asked in its worker, where they run), and why none."""
import re
from importlib import metadata


def gpu_devices(frameworks) -> list:
    """The cfg.device strings of the GPUs the implementation's framework sees ("cuda:0", ...)."""
    count = 0
    if "torch" in frameworks:
        import torch

        count = max(count, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if "tensorflow" in frameworks or "keras" in frameworks:
        import tensorflow as tf

        count = max(count, len(tf.config.list_physical_devices("GPU")))
    if "jax" in frameworks:
        import jax

        count = max(count, len([d for d in jax.devices() if d.platform == "gpu"]))
    return [f"cuda:{i}" for i in range(count)]


def gpu_missing_reason(frameworks) -> str:
    """'' when a GPU is visible to one of these frameworks; otherwise why not, for each of them."""
    reasons = []
    if "torch" in frameworks:
        import torch

        if torch.cuda.is_available():
            return ""
        reasons.append(f"torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None
                       else "torch.cuda.is_available() is False (no GPU or driver on this machine)")
    if "tensorflow" in frameworks or "keras" in frameworks:
        reason = _build_reason("tensorflow")
        if not reason:
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return ""
            reason = f"TensorFlow {tf.__version__} sees no GPU"
        reasons.append(reason)
    if "jax" in frameworks:
        reason = _build_reason("jax")
        if not reason:
            import jax

            if any(d.platform == "gpu" for d in jax.devices()):
                return ""
            reason = f"jax {jax.__version__} sees only CPU devices"
        reasons.append(reason)
    return _said(reasons)


def builds_reason(frameworks):
    """gpu_missing_reason, where the installed builds decide it without importing a framework (a
    CPU-only torch, tensorflow-cpu, jax without a GPU plugin); None where one build could use a
    GPU (then its import decides)."""
    frameworks = {"tensorflow" if f == "keras" else f for f in frameworks} & {"torch", "tensorflow", "jax"}
    reasons = [_build_reason(f) for f in sorted(frameworks, key=["torch", "tensorflow", "jax"].index)]
    return _said(reasons) if all(reasons) else None


def _said(reasons) -> str:
    return "no GPU: " + "; ".join(reasons) if reasons else "no GPU: NumPy runs on the CPU only"


GPU_PLUGINS = re.compile(r"^(jax[-_](cuda|rocm)|libtpu)", re.I)  # the distributions that give jax a GPU (or TPU)


def _build_reason(framework: str) -> str:
    """Why the installed build of this framework cannot use a GPU, read from the distributions'
    metadata; '' when it might."""
    if framework == "torch":
        v = _version("torch")
        return f"torch {v} is a CPU-only build" if v and v.endswith("+cpu") else ""
    if framework == "tensorflow":
        v = _version("tensorflow-cpu")
        return f"tensorflow-cpu {v} has no GPU support" if v and not _version("tensorflow") else ""
    if framework == "jax":
        v, lib = _version("jax"), _version("jaxlib") or ""
        plugins = any(GPU_PLUGINS.match(d.metadata.get("Name") or "") for d in metadata.distributions())
        return "" if plugins or "cuda" in lib or "rocm" in lib or not v else \
            f"jax {v} sees only CPU devices (a CPU build of jaxlib, no GPU plugin)"
    return ""


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
