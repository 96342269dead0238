"""bpnn's files, in three layers.

* :mod:`bpnn.io.container`: the safetensors container (header, tensors,
  JSON metadata, digest, atomic writes, strict and bounded parsing); it
  knows only the format.
* :mod:`bpnn.io.modelfile`: a :class:`~bpnn.model.TrainedModel` in a container.
* :mod:`bpnn.io.checkpoint`: a training run's state in a container, to resume it exactly.
"""
