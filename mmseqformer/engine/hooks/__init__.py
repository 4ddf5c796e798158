from .atomic_checkpoint_hook import AtomicCheckpointHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .rng_state_hook import RNGStateHook, rng_states, set_rng_states
from .video_visualization_hook import VideoVisualizationHook

__all__ = ['AtomicCheckpointHook', 'NonFiniteLossError', 'NonFiniteLossHook', 'RNGStateHook', 'rng_states',
           'set_rng_states', 'VideoVisualizationHook']
