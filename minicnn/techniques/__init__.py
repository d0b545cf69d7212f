"""The lecture's techniques, each a few functions on the model protocol
(``cnn.forward``, ``cnn.backward``, ``cnn.preprocess``, ``cnn.deprocess``,
``cnn.layer_names``, ``cnn.layers``).  One module per family."""
from .filters import activation_grid, filter_grid, tile_grid  # noqa: F401
from .receptive import receptive_fields, channel_field, receptive_box, clip_box  # noqa: F401
from .activations import activation_maps, activation_stats, zero_fraction, dead_channels  # noqa: F401,E501
from .patches import top_patches, top_patches_many, patch_images, patch_grid, recompute_activation  # noqa: F401,E501
from .features import extract_features, nearest_neighbors, neighbor_agreement, embed, pixel_features, thumbnails, tsne_grid, thumbnail_scatter, neighbor_rows  # noqa: F401,E501
from .texture import efros_leung, texture_synthesis  # noqa: F401
from .style import style_transfer, style_transfer_preset  # noqa: F401
from .synthesis import class_visualization, deepdream, fgsm, gradient_ascent, invert_features, make_fooling_image  # noqa: F401,E501
from .attribution import cam, class_score_gradient, gradcam, guided_gradcam, integrated_gradients, neuron_gradient, neuron_gradients, occlusion_map, receptive_field, saliency_map, smoothgrad, strongest_position  # noqa: F401,E501
from .multifaceted import multifaceted_visualization  # noqa: F401
from .segmentation import min_cut_labels, segment_from_saliency  # noqa: F401
from .fast_style import STYLES, blend_weights, load_transformer, stylize, train_transformer  # noqa: F401
