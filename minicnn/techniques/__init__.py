"""The lecture's techniques, each a few functions on the model protocol
(``cnn.forward``, ``cnn.backward``, ``cnn.preprocess``, ``cnn.deprocess``,
``cnn.layer_names``, ``cnn.layers``).  One module per family."""
from .filters import activation_grid, filter_grid, tile_grid  # noqa: F401
from .texture import efros_leung, texture_synthesis  # noqa: F401
from .synthesis import class_visualization, deepdream, fgsm, gradient_ascent, invert_features, make_fooling_image  # noqa: F401,E501
