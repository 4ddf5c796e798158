"""Checkpoints and the ``last_checkpoint`` pointer that appear complete or not at all."""
import glob
import os
import os.path as osp

from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from ...utils.atomic_write import write_text_atomic


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` for local work dirs that never leaves a half-written checkpoint behind.

    mmengine writes ``iter_N.pth`` in place and then ``last_checkpoint``, and deletes the oldest kept
    checkpoint before writing the new one: a kill during the write leaves a truncated file that ``--resume``
    picks. Here the checkpoint goes to a hidden temporary name and is renamed when complete, then the pointer
    is replaced the same way, and only then are checkpoints beyond ``max_keep_ckpts`` deleted. Best-checkpoint
    saving and non-local backends keep mmengine's behaviour.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            for stale in glob.glob(osp.join(self.out_dir, '.*.pth.tmp')):  # a save cut short by a kill
                os.remove(stale)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        tmp_name = f'.{filename}.tmp'
        runner.save_checkpoint(self.out_dir, tmp_name, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        os.replace(osp.join(self.out_dir, tmp_name), self.last_ckpt)
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        self._forget_old_checkpoints(runner, step)

    def _forget_old_checkpoints(self, runner, step: int) -> None:
        if self.max_keep_ckpts <= 0:
            return
        kept = [s for s in self.keep_ckpt_ids if s != step] + [step]
        for old in kept[:-self.max_keep_ckpts]:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
        self.keep_ckpt_ids.clear()
        self.keep_ckpt_ids.extend(kept[-self.max_keep_ckpts:])
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
