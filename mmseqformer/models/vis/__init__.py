from .seqformer import SeqFormer

__all__ = ['SeqFormer']
