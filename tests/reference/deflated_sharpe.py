"""Independent reference figures for host/src/research/overfit.rs, computed
with SciPy from the formulas of Bailey and Lopez de Prado (2014), "The
Deflated Sharpe Ratio". Run: python3 tests/reference/deflated_sharpe.py"""
import math
from scipy.stats import norm, skew, kurtosis
import numpy as np

G = 0.5772156649015329


def expected_max(n):
    return (1 - G) * norm.ppf(1 - 1 / n) + G * norm.ppf(1 - 1 / (n * math.e))


def dsr(sr, t, g3, g4, n, var):
    sr0 = math.sqrt(var) * expected_max(n)
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    return norm.cdf(z), sr0


for n in (10, 40, 100, 1000):
    print(f"expected_max({n}) = {expected_max(n):.4f}")
# The paper's section-6 example, per period (250 days a year).
d, sr0 = dsr(2.5 / math.sqrt(250), 1250, -3, 10, 100, 0.5 / 250)
print(f"paper example: SR0 = {sr0:.5f}, DSR = {d:.5f}")
r = np.array([0.01, -0.01, 0.02, -0.02, 0.03])
print(f"moments: sharpe = {r.mean() / r.std():.5f}, skew = {skew(r):.4f}, "
      f"kurtosis = {kurtosis(r, fisher=False):.4f}")
