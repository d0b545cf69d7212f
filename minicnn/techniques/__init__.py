"""The lecture's techniques, each a few functions on the model protocol
(``cnn.forward``, ``cnn.backward``, ``cnn.preprocess``, ``cnn.deprocess``,
``cnn.layer_names``, ``cnn.layers``).  One module per family."""
from .filters import activation_grid, filter_grid, tile_grid  # noqa: F401
from .texture import efros_leung, texture_synthesis  # noqa: F401
from .style import style_transfer, style_transfer_preset  # noqa: F401
from .synthesis import class_visualization, deepdream, fgsm, gradient_ascent, invert_features, make_fooling_image  # noqa: F401,E501
from .attribution import class_score_gradient, gradcam, guided_gradcam, integrated_gradients, neuron_gradient, neuron_gradients, occlusion_map, receptive_field, saliency_map, smoothgrad, strongest_position  # noqa: F401,E501
