"""One-to-one matching of query slots to instance sequences, then per-frame pairs (VisTR, CVPR 2021)."""
from typing import List, Optional, Union

import torch
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.registry import TASK_UTILS
from mmengine import ConfigDict
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment


@TASK_UTILS.register_module()
class SequenceHungarianAssigner(BaseAssigner):
    """Hungarian matching of P query slots to n gt sequences over T frames; present frames become pairs.

    The queries of a clip are frame-major (query ``q = t * P + slot``); slot ``p`` over all frames is one
    instance sequence. The costs (summed) compare slot sequences with gt sequences, each (P, n). After the
    assignment, the present frames of each matched (slot, gt) pair become (query, target) pairs, where a
    target is the gt instance-frame ``row = g * T + t``; every other query is background.

    Args:
        match_costs: sequence match cost configs, e.g. ``SequenceSoftmaxClassCost``, ``SequenceBBoxL1Cost``,
            ``SequenceIoUCost``.
        fix_valid_index: False (default) reproduces the official code (VisTR issue #80): the pairs of the j-th
            row of the slot-sorted assignment take the frames where gt ``j`` is present instead of those of
            the gt assigned to that row, so an absent frame can be paired and a present one dropped. True
            takes the assigned gt's frames.
    """

    def __init__(self, match_costs: Union[List[Union[dict, ConfigDict]], dict, ConfigDict],
                 fix_valid_index: bool = False) -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        if len(match_costs) == 0:
            raise ValueError('SequenceHungarianAssigner needs at least one match cost')
        self.match_costs = [TASK_UTILS.build(cost) for cost in match_costs]
        self.fix_valid_index = fix_valid_index

    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData, img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        """Match one clip.

        Args:
            pred_instances: ``scores`` (P, T, C) logits and ``bboxes`` (P, T, 4) of the query slots.
            gt_instances: ``labels`` (n, T), ``bboxes`` (n, T, 4) and ``valid`` (n, T) bool, plus whatever the
                costs read.

        Returns:
            AssignResult over the T * P frame-major queries with ``num_gts = n * T``: ``gt_inds`` (T * P,) is 0
            for background, else 1 + the target row ``g * T + t``; ``labels`` (T * P,) the target's label or -1.
            Extra properties: ``cost`` (P, n) the matrix handed to scipy, ``slot_inds`` / ``track_inds`` the
            assignment (slot-sorted).
        """
        num_slots, num_frames = pred_instances.bboxes.shape[:2]
        valid = gt_instances.valid.bool()
        num_gts = valid.shape[0]
        device = pred_instances.bboxes.device
        gt_inds = torch.zeros(num_frames * num_slots, dtype=torch.long, device=device)
        labels = gt_inds.new_full((num_frames * num_slots,), -1)
        if num_gts == 0:
            result = AssignResult(0, gt_inds, None, labels)
            cost = pred_instances.bboxes.new_zeros((num_slots, 0))
            return self._with_extras(result, cost, gt_inds.new_zeros(0), gt_inds.new_zeros(0))

        with torch.no_grad():
            cost = sum(match_cost(pred_instances, gt_instances, img_meta) for match_cost in self.match_costs)
        slot_inds, track_inds = linear_sum_assignment(cost.detach().cpu().numpy())
        slot_inds = torch.from_numpy(slot_inds).to(device)
        track_inds = torch.from_numpy(track_inds).to(device)
        gt_labels = gt_instances.labels
        for row, (slot, track) in enumerate(zip(slot_inds.tolist(), track_inds.tolist())):
            frames = valid[track if self.fix_valid_index else row].nonzero(as_tuple=False).flatten()
            queries = frames * num_slots + slot
            gt_inds[queries] = track * num_frames + frames + 1
            labels[queries] = gt_labels[track, frames]
        return self._with_extras(AssignResult(num_gts * num_frames, gt_inds, None, labels), cost, slot_inds,
                                 track_inds)

    @staticmethod
    def _with_extras(result: AssignResult, cost, slot_inds, track_inds) -> AssignResult:
        result.set_extra_property('cost', cost)
        result.set_extra_property('slot_inds', slot_inds)
        result.set_extra_property('track_inds', track_inds)
        return result
