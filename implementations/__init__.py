"""The bundled implementations: one tutorial variant per module, plus the contract."""

# Teaching order, as the tutorial presents them; modules not named here follow, by name.
ORDER = ("numpy_manual", "torch_tensors", "torch_autograd", "torch_function", "tf_graph",
         "nn_sequential", "nn_optim", "nn_module", "nn_dynamic",
         "fast_numpy", "fast_torch", "fast_torch_compile", "fast_jax", "fast_tf_function")
