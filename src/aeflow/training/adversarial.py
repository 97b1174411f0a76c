"""The adversarial training loop shared by every GAN: critic steps, a generator step every
``n_critic`` batches, the model's objectives, checkpoints and callbacks as in
:class:`aeflow.training.loop.Trainer`.

A model supplies ``critic_loss(real, fake, labels, fake_labels)``,
``generator_loss(fake, fake_labels)``, ``noise(n, device)``, ``optimizers()`` and the flag
``conditional`` (class labels drawn for generated images, as in the real batch). An epoch is
one pass over the real training images. The per-epoch record holds the mean of every term the
objectives return (``critic_loss``, ``generator_loss``, ``wasserstein``, ``penalty`` ...)
and ``val_wasserstein`` / ``val_critic_loss``: the critic's value on the validation images
against fresh samples, a held-out view of the same quantity. A GAN has no validation loss to
select weights by, so the last epoch's weights are kept.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch

from aeflow.device import autocast
from aeflow.training.callbacks import Callback
from aeflow.training.loop import TensorData, Trainer, n_samples

log = logging.getLogger(__name__)


class AdversarialTrainer(Trainer):
    """Alternating critic / generator updates; ``fit``, checkpoints and callbacks as Trainer."""

    def __init__(
        self,
        model,
        device: torch.device,
        *,
        batch_size: int,
        seed: int = 0,
        amp: bool = True,
        channels_last: bool = True,
        callbacks: Sequence[Callback] = (),
        progress: bool = False,
    ) -> None:
        model = model.to(device)
        g_opt, c_opt = model.optimizers()
        super().__init__(
            model,
            c_opt,
            device,
            batch_size=batch_size,
            seed=seed,
            amp=amp,
            channels_last=channels_last,
            restore_best=False,
            callbacks=callbacks,
            progress=progress,
        )
        self.generator_optimizer = g_opt
        self.n_critic = int(model.config.n_critic)
        self.steps = 0  # critic steps so far (a generator step follows every n_critic-th)

    def _fake(self, n: int, labels: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
        fake_labels = None
        if self.model.conditional:
            # the real batch's class mix, so that the class head sees balanced data
            fake_labels = labels[torch.randperm(len(labels), device=labels.device)]
        z = self.model.noise(n, self.device)
        fake = self.model.generator(z, fake_labels)
        if self.channels_last and fake.dim() == 4:
            fake = fake.contiguous(memory_format=torch.channels_last)
        return fake, fake_labels

    def train_epoch(self, data: TensorData, epoch: int) -> dict[str, float]:
        self.model.train()
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        counts: dict[str, int] = defaultdict(int)
        for batch in self._batches(data, shuffle=True, epoch=epoch):
            real, labels = self.model.augment(batch["image"]), batch.get("label")
            n = n_samples(batch)
            with autocast(self.device, self.amp):
                with torch.no_grad():
                    fake, fake_labels = self._fake(n, labels)
                terms = self.model.critic_loss(real, fake.detach(), labels, fake_labels)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.optimizer.step()
            self.steps += 1
            for key, value in terms.items():
                name = "critic_loss" if key == "loss" else key
                sums[name] += value.detach().float() * n
                counts[name] += n
            if self.steps % self.n_critic == 0:
                # the critic's parameters get no gradient from the generator's step
                for p in self.model.critic.parameters():
                    p.requires_grad_(False)
                with autocast(self.device, self.amp):
                    fake, fake_labels = self._fake(n, labels)
                    g_terms = self.model.generator_loss(fake, fake_labels)
                self.generator_optimizer.zero_grad(set_to_none=True)
                g_terms["loss"].backward()
                self.generator_optimizer.step()
                self.model.update_ema()
                for p in self.model.critic.parameters():
                    p.requires_grad_(True)
                for key, value in g_terms.items():
                    name = "generator_loss" if key == "loss" else f"generator_{key}"
                    sums[name] += value.detach().float() * n
                    counts[name] += n
        record = {k: (sums[k] / max(counts[k], 1)).item() for k in sums}
        if not math.isfinite(record["critic_loss"]):
            raise FloatingPointError(f"critic loss became {record['critic_loss']} in epoch {epoch}")
        return record

    def evaluate_critic(self, data: TensorData) -> dict[str, float]:
        """The critic's objective on held-out real images against fresh samples (the
        penalty needs gradients, so it is left out: ``val_critic_loss`` is its first part)."""
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.seed + 7)
        wasserstein = getattr(self.model, "wasserstein", False)
        total, seen = 0.0, 0
        with torch.no_grad():
            for batch in self._batches(data, shuffle=False, epoch=0):
                n = n_samples(batch)
                labels = batch.get("label") if self.model.conditional else None
                z = torch.randn(n, self.model.config.latent_dim, device=self.device, generator=gen)
                with autocast(self.device, self.amp):
                    fake = self.model.generator(z, labels)
                    real_out = self.model.critic(batch["image"])[0].float()
                    fake_out = self.model.critic(fake)[0].float()
                if wasserstein:  # E f(real) - E f(fake)
                    total += (real_out.sum() - fake_out.sum()).item()
                else:  # the discriminator's binary cross-entropy
                    logsigmoid = torch.nn.functional.logsigmoid
                    total -= (logsigmoid(real_out).sum() + logsigmoid(-fake_out).sum()).item()
                seen += n
        value = total / max(seen, 1)
        if wasserstein:
            return {"val_wasserstein": value, "val_critic_loss": -value}
        return {"val_critic_loss": value}

    def run_epoch(self, train: TensorData, val: TensorData, epoch: int) -> dict[str, float]:
        return self.train_epoch(train, epoch) | self.evaluate_critic(val)

    def track_best(self, record: dict[str, float], epoch: int) -> None:
        """No validation loss selects a GAN's weights: the last epoch's are kept."""
        self.best_epoch, self.best_val = epoch, record["val_critic_loss"]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["generator_optimizer"] = self.generator_optimizer.state_dict()
        state["steps"] = self.steps  # noise and penalty mixing: the random streams (Trainer)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.steps = int(state["steps"])
