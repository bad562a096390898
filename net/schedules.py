"""Learning-rate schedules that change the rate between epochs, as
scikit-learn's optimizers do (``iteration_ends(t)`` after each epoch,
``trigger_stopping(msg, verbose)`` when the loss stops improving). A
``training.Optimizer`` owns one and calls it; the estimator never writes a
rate itself.

The course's step decay (the rate times ``learning_rate_decay`` every
``decay_every`` epochs) runs inside the compiled loop instead, since its
epochs can be shorter than a chunk (``kernels.loop.Schedule``).
"""


class Constant:
    """scikit-learn's 'constant' (and every Adam run): the rate never
    changes; no improvement stops."""

    def iteration_ends(self, opt, time_step):
        pass

    def trigger_stopping(self, opt, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


class InvScaling(Constant):
    """scikit-learn's 'invscaling': after each epoch, ``rate =
    learning_rate_init / (t + 1) ** power_t``, t the samples seen."""

    def __init__(self, power_t):
        self.power_t = power_t

    def iteration_ends(self, opt, time_step):
        opt.learning_rate = float(opt.learning_rate_init) / (time_step + 1) ** self.power_t


class Adaptive(Constant):
    """scikit-learn's 'adaptive': when the loss stops improving the rate is
    divided by 5, and training stops once it is at most 1e-6."""

    def trigger_stopping(self, opt, msg, verbose):
        if opt.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt.learning_rate = opt.learning_rate / 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % opt.learning_rate)
        return False
