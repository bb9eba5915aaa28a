"""Independent reference values for the SDK's indicator tests.

Written from the textbook definitions, recomputing each value from the whole
history (no incremental state), so it shares no code path with the Rust
implementation. Run: python3 guest-sdk/tests/reference/indicators.py
"""
closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08,
          45.89, 46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]

def sma(xs, n, i):
    return sum(xs[i - n + 1:i + 1]) / n

def ema(xs, n, i):
    # EMA_i = sum of weighted terms, seeded with SMA at n-1
    alpha = 2 / (n + 1)
    v = sma(xs, n, n - 1)
    for k in range(n, i + 1):
        v = alpha * xs[k] + (1 - alpha) * v
    return v

def rsi(xs, n, i):
    ch = [xs[k] - xs[k - 1] for k in range(1, i + 1)]
    g = sum(max(c, 0) for c in ch[:n]) / n
    l = sum(max(-c, 0) for c in ch[:n]) / n
    for c in ch[n:]:
        g = (g * (n - 1) + max(c, 0)) / n
        l = (l * (n - 1) + max(-c, 0)) / n
    return 100 - 100 / (1 + g / l)

print("SMA5[4]", round(sma(closes, 5, 4), 10), "SMA5[19]", round(sma(closes, 5, 19), 10))
print("EMA10[9]", ema(closes, 10, 9), "EMA10[19]", repr(ema(closes, 10, 19)))
print("RSI14[14..20]", [repr(rsi(closes, 14, i)) for i in range(14, 20)])

import math

def roc(xs, n, i):
    # rate of change as a fraction: x_i / x_{i-n} - 1 (TA-Lib's ROCP)
    return xs[i] / xs[i - n] - 1

def mom(xs, n, i):
    return xs[i] - xs[i - n]

def realized_vol(xs, n, i):
    # sample standard deviation (n - 1) of the last n log returns
    r = [math.log(xs[k] / xs[k - 1]) for k in range(i - n + 1, i + 1)]
    m = sum(r) / n
    return math.sqrt(sum((x - m) ** 2 for x in r) / (n - 1))

print("ROC10[10..20]", [repr(roc(closes, 10, i)) for i in range(10, 20)])
print("MOM10[10..20]", [repr(mom(closes, 10, i)) for i in range(10, 20)])
print("VOL10[10..20]", [repr(realized_vol(closes, 10, i)) for i in range(10, 20)])

# Bars for the range indicators: highs and lows around the closes, by a
# fixed rule (no randomness), so both SDKs' tests build the same bars.
highs = [c + 0.25 + 0.125 * (i % 3) for i, c in enumerate(closes)]
lows = [c - 0.25 - 0.125 * (i % 2) for i, c in enumerate(closes)]

def true_range(i):
    # Wilder: the first bar's range is high - low; later ones reach back to
    # the previous close.
    if i == 0:
        return highs[0] - lows[0]
    pc = closes[i - 1]
    return max(highs[i] - lows[i], abs(highs[i] - pc), abs(lows[i] - pc))

def atr(n, i):
    # Seeded with the mean of the first n true ranges, then Wilder's
    # recursion ATR_i = (ATR_{i-1} (n - 1) + TR_i) / n.
    v = sum(true_range(k) for k in range(n)) / n
    for k in range(n, i + 1):
        v = (v * (n - 1) + true_range(k)) / n
    return v

def bollinger(xs, n, k, i):
    # SMA ± k population standard deviations of the last n values.
    w = xs[i - n + 1:i + 1]
    m = sum(w) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in w) / n)
    return (m - k * sd, m, m + k * sd)

def highest(xs, n, i):
    return max(xs[i - n + 1:i + 1])

def lowest(xs, n, i):
    return min(xs[i - n + 1:i + 1])

def crossings(a, b):
    # (index, "over"/"under") where a crosses b, as the SDKs' `Cross` says.
    out = []
    for i in range(1, len(a)):
        if a[i - 1] <= b[i - 1] and a[i] > b[i]:
            out.append((i, "over"))
        elif a[i - 1] >= b[i - 1] and a[i] < b[i]:
            out.append((i, "under"))
    return out

print("ATR5[4..20]", [repr(atr(5, i)) for i in range(4, 20)])
print("BB10x2[9..20]", [tuple(map(repr, bollinger(closes, 10, 2.0, i))) for i in range(9, 20)])
print("HIGH5[4..20]", [highest(highs, 5, i) for i in range(4, 20)])
print("LOW5[4..20]", [lowest(lows, 5, i) for i in range(4, 20)])
sma5 = [sum(closes[i - 4:i + 1]) / 5 for i in range(4, 20)]
print("CROSS close/SMA5 from 4", crossings(closes[4:], sma5))
