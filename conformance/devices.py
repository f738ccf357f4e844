"""The GPUs an implementation's frameworks see (asked in its worker, where they run), and why none."""

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
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    reasons = []
    if "torch" in frameworks:
        import torch

        if torch.cuda.is_available():
            return ""
        reasons.append(f"torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None
                       else "torch.cuda.is_available() is False (no GPU or driver on this machine)")
    if "tensorflow" in frameworks or "keras" in frameworks:
        if version("tensorflow-cpu") and not version("tensorflow"):
            reasons.append(f"tensorflow-cpu {version('tensorflow-cpu')} has no GPU support")
        else:
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return ""
            reasons.append(f"TensorFlow {tf.__version__} sees no GPU")
    if "jax" in frameworks:
        import jax

        if any(d.platform == "gpu" for d in jax.devices()):
            return ""
        reasons.append(f"jax {jax.__version__} sees only CPU devices (a CPU build of jaxlib)")
    return "no GPU: " + "; ".join(reasons) if reasons else "no GPU: NumPy runs on the CPU only"
