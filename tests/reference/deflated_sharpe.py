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


# Probability of Backtest Overfitting by CSCV (Bailey, Borwein, Lopez de
# Prado and Zhu, 2015), brute force over rows, on a matrix any language can
# rebuild: T = 64 periods, N = 6 trials, r[t][n] = sin(0.7 t + 1.3 n)/100 +
# (n - 2.5)/2000 * cos(0.31 t) and S = 8 blocks.
from itertools import combinations


def matrix():
    return np.array([[math.sin(0.7 * t + 1.3 * n) / 100 + (n - 2.5) / 2000 * math.cos(0.31 * t)
                      for n in range(6)] for t in range(64)])


def sharpe(m):
    return m.mean(axis=0) / m.std(axis=0)


def pbo(m, s):
    t = m.shape[0]
    blocks = np.array_split(np.arange(t), s)
    logits = []
    for train in combinations(range(s), s // 2):
        rows = np.concatenate([blocks[b] for b in train])
        rest = np.concatenate([blocks[b] for b in range(s) if b not in train])
        best = int(np.argmax(sharpe(m[rows])))
        oos = sharpe(m[rest])
        rank = int((oos <= oos[best]).sum())  # 1 = worst
        w = rank / (m.shape[1] + 1)
        logits.append(math.log(w / (1 - w)))
    return sum(1 for l in logits if l <= 0) / len(logits), len(logits)


p, k = pbo(matrix(), 8)
print(f"pbo = {p:.6f} over {k} combinations")
