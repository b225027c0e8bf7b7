"""Evaluation of a trained network (sec. 4: top-1 accuracy per domain and split): `evaluate` on
one split with the centre crop, and over every split a run evaluates, with its final weights
(`evaluate_all`) and with its best-on-validation ones (`evaluate_best`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from paperlib.data import DomainSpec, DomainSplit, augment_batch
from paperlib.model.resnet import ResNet26
from paperlib.train.run_data import RunData, crop_side, input_spec
from paperlib.train.spec import TrainConfig


@torch.no_grad()
def evaluate(model: ResNet26, split: DomainSplit, *, crop: int, batch_size: int = 256,
             limit_batches: int | None = None, autocast: bool = False,
             channels_last: bool = True, spec: DomainSpec | None = None) -> tuple[float | None, torch.Tensor, torch.Tensor]:
    """(top-1 accuracy in %, image ids, predicted labels) of `model` on one split, centre crop
    (normalised by `spec`, default `run_data.input_spec(split.domain)`).

    The accuracy is None when the split has no labels (the stripped Decathlon test set)."""
    device = next(model.parameters()).device
    model.eval()
    model.set_domain(split.domain)
    n = len(split) if limit_batches is None else min(len(split), limit_batches * batch_size)
    spec = spec or input_spec(split.domain)
    preds = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        for lo in range(0, n, batch_size):
            x = augment_batch(split.images[lo:lo + batch_size].to(device, non_blocking=True), spec,
                              train=False, crop=crop)
            if channels_last and device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            preds.append(model(x).argmax(1))
    pred = torch.cat(preds).cpu() if preds else torch.zeros(0, dtype=torch.long)
    labels = split.labels[:n]
    acc = None if n == 0 or bool((labels < 0).any()) else float((pred == labels).double().mean() * 100)
    return acc, split.image_ids[:n].clone(), pred


def evaluate_all(config: TrainConfig, model: ResNet26, data: RunData, *,
                 known: Mapping[tuple[str, str], tuple] | None = None) -> tuple[dict, dict]:
    """Top-1 per domain and split, and the predictions (for submissions). Method lora runs each
    domain on a merged copy (W + B A: plain convolutions, as deployed; equal to the unmerged
    network up to float rounding); the returned model stays unmerged. `known`: (domain, split) ->
    (accuracy, ids, predictions) already computed by `evaluate` with these very weights."""
    known = known or {}
    metrics: dict[str, dict[str, float | None]] = {d: {} for d in config.domains}
    predictions: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {d: {} for d in config.domains}
    merged = {}
    if config.method == "lora":
        from paperlib.model.lora import merge_lora

        merged = {d: merge_lora(model, d) for d in config.domains}
    for (d, s), split in data.eval_sets.items():
        if (d, s) in known:
            metrics[d][s], predictions[d][s] = known[d, s][0], known[d, s][1:]
            continue
        acc, ids, pred = evaluate(merged.get(d, model), split, crop=crop_side(config, split), batch_size=config.eval_batch_size,
                                  limit_batches=config.eval_limit_batches,
                                  autocast=config.autocast(next(model.parameters()).device.type),
                                  channels_last=config.channels_last, spec=input_spec(d, config.source_domain))
        metrics[d][s], predictions[d][s] = acc, (ids, pred)
    return metrics, predictions


def evaluate_best(config: TrainConfig, model: ResNet26, data: RunData, best: dict | None) -> dict | None:
    """The eval splits' top-1 with the best-on-validation weights (the final weights are restored
    afterwards); None when no epoch was validated."""
    if best is None:
        return None
    last = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best["model"])
    try:
        metrics, _ = evaluate_all(config, model, data)
    finally:
        model.load_state_dict(last)
    return metrics


__all__ = ["evaluate", "evaluate_all", "evaluate_best"]
