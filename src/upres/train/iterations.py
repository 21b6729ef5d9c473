"""The iterations of a training run, from its start (or resumed) iteration to the end: the step, the checks at
`print_freq` (the NaN guard's roll-back, progress), checkpoints, validation and early stopping, and what Ctrl+C,
out-of-memory, a dead loader or a failed compile leave behind. Everything it runs is built before (`loop._train`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from upres.data.bad_samples import TooManyBadSamples
from upres.infer.autotile import is_out_of_memory
from upres.train.checkpoint import list_states
from upres.train.compiling import compile_failure_text, is_compile_failure
from upres.train.config import Options
from upres.train.distributed import DistContext, broadcast_object
from upres.train.feed import BatchFeed, LoaderFailed
from upres.train.interrupt import HeldChildSignals, HeldInterrupts, StepAbandoned, StopAgreement
from upres.train.memory import out_of_memory_text
from upres.train.persist import SharedTrainingError, TrainingError, newest_state, roll_back, save_checkpoint
from upres.train.report import RunLog
from upres.train.setup import Run
from upres.train.step import TrainStep
from upres.train.together import peer_lost, together
from upres.train.validate import BestTracker
from upres.train.watch import RunWatch

MAX_ROLLBACKS_TO_ONE_STATE = 8  # the learning rates are then 1/256 of what diverged


@dataclass
class Outcome:
    iteration: int  # the last whole iteration
    stopped_early: bool
    last_losses: dict[str, float]


@dataclass
class Iterations:
    opts: Options
    ctx: DistContext
    run: Run
    log: RunLog
    watch: RunWatch
    feed: BatchFeed
    step: TrainStep
    scaler: torch.amp.GradScaler | None
    best: BestTracker
    has_metrics: bool
    exp_dir: Path | None
    seed: int
    total_iter: int
    dry_run: bool

    @property
    def states_dir(self) -> Path | None:
        return self.exp_dir / "training_states" if self.exp_dir else None

    def __call__(self, start_iter: int) -> Outcome:
        """Iterations `start_iter + 1` to the end; Ctrl+C saves the state of the last whole iteration and re-raises."""
        it, stop, last_losses, diverging = start_iter, False, {}, False
        rollbacks: dict[int, int] = {}  # iteration rolled back to -> how many times
        held = HeldInterrupts(deferred=self.ctx.enabled).install()
        # A dead loader worker is reported between iterations, where the loader can start again, not mid-step.
        children = HeldChildSignals().install()
        agreement = StopAgreement(held, self.ctx.cpu_group) if self.ctx.enabled else None
        try:
            stop = self._stopped_early_already(it) or self._missed_validation(it)
            while it < self.total_iter and not stop:
                try:
                    children.check()
                except RuntimeError as exc:
                    self.feed.recover(it, exc)  # `it` whole iterations: the loader starts again at the next
                # Ctrl+C waits for the end of the iteration: `it` always counts whole optimizer steps.
                with held.iteration():
                    self.step(self.step.full_iteration() if self.dry_run else it + 1, self.feed)
                    it += 1
                    if self.dry_run:
                        self._refuse_a_non_finite_dry_run()
                    # --- the only host syncs: at print_freq, checkpoints and validation ------------------------
                    printing = it % self.opts.logger.print_freq == 0 or it == self.total_iter
                    # The guard also runs before a checkpoint or validation: a state written from a diverging
                    # model (its weights finite but huge) was what later roll-backs went back to.
                    if printing or self.checkpoint_due(it) or self.validation_due(it):
                        back = self._guard(it, rollbacks)
                        if back is not None and back != it:
                            it, diverging = back, False
                            continue
                        # No state to go back to, the rates halved: the model stays suspect until a finite step.
                        diverging = back == it or (diverging and bool(self.step.consecutive_bad))
                    if printing and not diverging:
                        last_losses = self.watch.progress(self.step, it, self.feed.take_wait())
                        self.step.reset_window()
                if agreement is not None and agreement.poll():
                    raise held.stop()  # every rank, after the same iteration: the save below is collective
                if self.dry_run:
                    break
                if diverging:
                    self._nothing_saved_from_a_diverging_model(it)
                    continue
                if self.checkpoint_due(it):
                    self.save(it, last=it == self.total_iter)
                if self.validation_due(it):
                    stop = self.validate(it)
            if agreement is not None:
                agreement.close()
        except StepAbandoned:
            self.log.note(
                f"stopped during iteration {it + 1} by a second Ctrl+C, without saving it; {self.newest()}"
            )
            self.log.close()
            raise
        except RuntimeError as exc:
            if isinstance(exc, LoaderFailed) and held.requested and not self.ctx.enabled:
                # SIGTERM sent to every process of the job (Slurm, systemd, kill -TERM -PGID) ends the loader's
                # workers too; between micro-batches the iteration cannot finish, but the one before is whole.
                self.log.note(
                    f"the stop signal also ended the data loader's workers during iteration {it + 1}: that "
                    "iteration is left out"
                )
                self._save_interrupted(it)
                raise held.stop() from None
            # Half an iteration may have run (gradients, perhaps an optimizer): nothing of it is saved.
            text = self._failure_text(exc, it)
            if text is None:
                raise
            self.log.note(text)
            self.log.close()
            raise TrainingError(text) from None
        except TooManyBadSamples as exc:
            # As a loader's death: in log.txt too (it was on the console only), with what a resume would start from.
            text = f"{exc}; {self.newest()}"
            self.log.note(text)
            self.log.close()
            raise TooManyBadSamples(text) from None
        except KeyboardInterrupt:
            self._save_interrupted(it)
            if agreement is not None:
                agreement.leave_together()
            raise
        finally:
            held.uninstall()
            children.uninstall()
        return Outcome(it, stop, last_losses)

    def save(self, it: int, last: bool = False) -> None:
        started = time.perf_counter()
        save_checkpoint(
            self.run, self.opts, self.exp_dir, it, self.seed, self.scaler, self.best, self.ctx, self.log,
            pool=self.feed.pool, last=last, window=self.step.window_state(),
            validation_due=self.validation_due(it),
        )  # fmt: skip
        self.watch.save_history()  # the report's curves up to the state, which a resumed run continues
        self.watch.pace.add_save(time.perf_counter() - started)

    def _refuse_a_non_finite_dry_run(self) -> None:
        """A dry run whose one iteration had a NaN/Inf loss (its step skipped) said "dry run OK": it checked nothing."""
        bad = {k: float(v) for k, v in self.step.loss_sums.items() if not bool(torch.isfinite(v).all())}
        if bad:
            shown = ", ".join(f"{k} {v}" for k, v in bad.items())
            raise TrainingError(
                f"dry run: the iteration's losses are not finite ({shown}), so its step was skipped; check the "
                "learning rates, the degradation settings and the data (`upres doctor -c OPTIONS`)"
            )

    def checkpoint_due(self, it: int) -> bool:
        return it % self.opts.logger.save_checkpoint_freq == 0 or it == self.total_iter

    def _nothing_saved_from_a_diverging_model(self, it: int) -> None:
        """The guard fired with no state to roll back to: no checkpoint or validation of this model. At the last
        iteration that leaves the run without a model, which is an error, not 'training finished'."""
        if it < self.total_iter:
            if self.checkpoint_due(it) or self.validation_due(it):
                self.log.note(f"iteration {it}: the model is diverging; no checkpoint or validation of it")
            return
        text = (
            f"iteration {it}: the model diverged (non-finite steps until the end, the learning rates halved at each "
            "check) and no checkpoint was written; lower train.optim_g/optim_d lr (or turn AMP off) and train again"
        )
        self.log.note(text)
        raise SharedTrainingError(text)

    def validation_due(self, it: int) -> bool:
        return self.has_metrics and (it % self.opts.val.val_freq == 0 or it == self.total_iter)

    def validate(self, it: int) -> bool:
        """Score the model at `it` (main process); True when early stopping ends the run (then saved)."""
        # An error on process 0 (out of memory) stops the others instead of leaving them a traceback.
        with together(self.ctx):
            stop = self.watch.validate(it, self.best) if self.ctx.is_main else False
        stop = bool(broadcast_object(self.ctx, stop))
        if stop:
            self.log.note(f"early stop at iteration {it}: no improvement for {self.best.stale} validations")
            self.save(it, last=True)
        return stop

    def _stopped_early_already(self, it: int) -> bool:
        """A state saved by early stopping: its run ended there, so a resume trains nothing (it trained another
        val_freq iterations, wrote their models over the oldest kept, and stopped again)."""
        patience = self.opts.train.early_stop_patience
        if not it or self.dry_run or not self.has_metrics or patience is None or self.best.stale < patience:
            return False
        self.log.note(
            f"the training state's run stopped early at iteration {it} (no improvement for {self.best.stale} "
            "validations): nothing is trained; raise train.early_stop_patience (or remove it) to go on"
        )
        return True

    def _missed_validation(self, it: int) -> bool:
        """A state is saved before the validation of its iteration: one that a crash or Ctrl+C cut off runs now, so
        net_g_best, early stopping and the report go on as in an uninterrupted run. True when it stops the run."""
        if not it or self.dry_run or not self.validation_due(it) or self.best.validated == it:
            return False
        replayed = self.watch.replay_validation(it, self.best) if self.ctx.is_main else None
        if bool(broadcast_object(self.ctx, replayed)):
            return False
        # Another val_freq: the run that saved the state had none due here.
        if self.best.due_at_state is False:
            self.log.note(
                f"val.val_freq {self.opts.val.val_freq} puts a validation at iteration {it}, where the training "
                "state's run had none: running it now"
            )
        else:
            self.log.note(
                f"the validation at iteration {it} did not finish before the run stopped: running it now"
            )
        return self.validate(it)

    def _guard(self, it: int, rollbacks: dict[int, int]) -> int | None:
        """The NaN guard at print_freq: the iteration it rolled back to, or None when the steps were finite."""
        n_bad = int(self.step.consecutive_bad)
        if n_bad < self.opts.train.nan_rollback_after:
            return None
        newest = newest_state(self.ctx, self.states_dir)  # process 0's: every process goes back to the same
        target = int(newest.stem) if newest is not None else None
        if target is not None and rollbacks.get(target, 0) >= MAX_ROLLBACKS_TO_ONE_STATE:
            # Halving again and again did not help: the run would loop here for ever. Checked before a ninth
            # roll-back, which was made (and logged) before the run stopped.
            text = (
                f"iteration {it}: still non-finite after {MAX_ROLLBACKS_TO_ONE_STATE} roll-backs to iteration "
                f"{target}, each halving the learning rates; lower train.optim_g/optim_d lr and add "
                "train.restart_scheduler: true (a resume goes on at the state's rate otherwise), or turn AMP off, then "
                "--resume auto"
            )
            self.log.note(text)
            raise SharedTrainingError(text)
        back = roll_back(self.run, newest, self.scaler, self.log, it, n_bad, self.feed.pool, self.ctx)
        rollbacks[back] = rollbacks.get(back, 0) + 1
        self.step.consecutive_bad.zero_()
        self.step.reset_window()
        self.feed.restart(back)
        self.feed.take_wait()
        self.watch.restart_window(back)
        if back != it:  # with no state the rates are only halved: nothing is trained again
            self.log.rewind(back)
        return back

    def _failure_text(self, exc: RuntimeError, it: int) -> str | None:
        """The one-line message for a failure the user can act on (None: a bug, re-raised as it is)."""
        # First: a loader's advice says "ran out of memory", which is no out-of-memory error of the step.
        if isinstance(exc, LoaderFailed):
            return f"{exc}; {self.newest()}"
        if is_out_of_memory(exc):
            if self.watch.validating:
                return out_of_memory_text(self.opts, self.ctx.device, it, self.newest(), validating=True)
            return out_of_memory_text(self.opts, self.ctx.device, it + 1, self.newest())
        if self.opts.use_compile and is_compile_failure(exc):
            return compile_failure_text(exc, it + 1, self.newest())
        if self.ctx.enabled and peer_lost(exc):
            return (
                f"another process stopped during iteration {it + 1} (its error is printed on its machine); this "
                f"one stops too; {self.newest()}"
            )
        return None

    def _save_interrupted(self, it: int) -> None:
        try:
            if not self.dry_run:
                self.log.note(f"interrupted after iteration {it}: saving the training state before exiting")
                try:
                    self.save(it, last=True)
                except KeyboardInterrupt:
                    self.log.note(
                        f"a second Ctrl+C stopped that save: the state of iteration {it} is not written; "
                        f"{self.newest()}"
                    )
                    raise
        finally:
            self.log.close()

    def newest(self) -> str:
        saved = list_states(self.states_dir) if self.states_dir and self.states_dir.is_dir() else []
        return f"the newest saved state is {saved[-1].name}" if saved else "no training state is saved"
