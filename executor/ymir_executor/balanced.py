"""``balanced`` mining's greedy selection (``balanced_order``), exact and lazy.

The greedy takes, ``budget`` times, the image worth most now. Done literally, that is ``budget`` passes over
every detection of the pool: hours for a million images on a CPU. But an image's worth only falls as images
are picked (class weights and novelties only fall), so a worth computed earlier bounds it from above. So
the selection keeps a set of candidates, the images with the highest bounds; works out a candidate's
novelty against the picks only when its exact worth is needed; and takes the best candidate once its
worth is above every bound left (the other candidates', and the best outsider's, re-bounded at the
weights now when in the way). An outsider's bound, its worth with novelty 1, costs C multiplications.

Exact, not an approximation: the picks and their gains are those of the literal greedy (the test keeps
one), to the bit on the CPU. Every number is computed so that it has the same bits whatever the batch
(``_worth``, ``_box_distance``; a matrix product would not, as BLAS sums in an order that depends on the
shapes), and a bound keeps a margin over rounding (``_slack``). The version before this one used such
products, so its gains may differ from these in the last bit, and its picks where two worths were that close.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ymir_executor.mining import CHUNK, EPS, Boxes

log = logging.getLogger(__name__)

MIN_CANDIDATES = 1024  # the fewest images the candidate set starts with, and grows by
FIRST_LOOK = 1  # candidates whose exact worth is worked out first at each pick (doubled while not enough)
PAIRS = 1 << 22  # distance pairs x feature size per block: bounded temporaries
ONE_BLOCK = 256  # picked rows up to which novelty compares with all classes at once (fewer, larger products)


def _by_rows(n: int, fn: Callable[[slice], torch.Tensor]) -> torch.Tensor:
    """``fn`` over row slices of ``CHUNK`` images, concatenated: bounded temporaries on large pools."""
    return torch.cat([fn(slice(a, min(n, a + CHUNK))) for a in range(0, n, CHUNK)])


def _worth(u: torch.Tensor, q: torch.Tensor, nov: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(n,) each image's worth: the sum over its detections of uncertainty u (n, m) x the class weight w (C,)
    under its class distribution q (n, m, C) x its novelty nov (n, m).

    Only elementwise products and sums along the last axis: torch adds each row in the same order whatever
    the batch, so an image's worth has the same bits computed with the whole pool or with a few candidates.
    A matrix product would not (BLAS sums in an order that depends on the matrix's shape).
    """
    qw = q.to(torch.float32, copy=True).mul_(w).sum(-1)  # (n, m)
    return (u * qw * nov).sum(-1)


def _class_mass(u: torch.Tensor, q: torch.Tensor, nov: torch.Tensor) -> torch.Tensor:
    """(n, C) each image's worth per unit of each class's weight, so that worth = mass @ weights."""
    return ((u * nov)[..., None] * q.float()).sum(1)


def _slack(m: int, c: int) -> float:
    """The factor a bound ``mass @ w`` is raised by to stay above the exact ``_worth`` despite rounding.

    Both sum the same m x C non-negative products, in other orders: each is within (m + C + 3) float32
    rounding units (2**-24) of the true sum. Four times that covers both, and a weight one unit off.
    """
    return 1.0 + 4 * (m + c + 4) * 2.0**-24


def _box_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(P,) float32 L2 distance between float16-valued unit rows a (P, D) and b (P, D), pair by pair.

    The dot products are taken in float64, where those of float16 vectors of norm <= 1 are exact (every
    product and partial sum is a multiple of 2**-48 below 2**5): the same bits in any batch, on any device.
    """
    cos = (a.double() * b.double()).sum(-1)
    return (2.0 - 2.0 * cos).clamp(min=0.0).sqrt().float()


def _image_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(P,) L2 distance between rows a (P, D) and b (P, D), pair by pair: a norm along the last axis."""
    d: torch.Tensor = (a - b).norm(dim=-1)
    return d


def _box_close(x: torch.Tensor, y: torch.Tensor, radius: float) -> torch.Tensor:
    """(X, Y) the pairs of rows x (X, D), y (Y, D) whose ``_box_distance`` may be within ``radius``.

    A float32 product of rows of norm <= 1 is within D * 2**-24 of the exact one: the pairs left out lie
    beyond the radius with a margin.
    """
    return x @ y.T >= 1.0 - (radius + 1e-3) ** 2 / 2 - 4 * x.shape[1] * 2.0**-24


def _image_close(x: torch.Tensor, y: torch.Tensor, radius: float) -> torch.Tensor:
    """(X, Y) the pairs of rows x (X, D), y (Y, D) whose ``_image_distance`` may be within ``radius``,
    from |x|^2 + |y|^2 - 2 x.y in float32 (within a few D * 2**-24 of the exact, relative to the norms)."""
    xx, yy = (x * x).sum(-1)[:, None], (y * y).sum(-1)[None, :]
    d2 = xx + yy - 2 * (x @ y.T)
    return d2 <= (radius + 1e-3) ** 2 + 8 * (x.shape[1] + 4) * 2.0**-24 * (xx + yy)


class _Metric(NamedTuple):
    """How novelty measures: ``distance`` pair by pair, the literal greedy's bits, and ``close``, a fast
    superset of the pairs within the radius, so that only those need ``distance``."""

    close: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


BOX = _Metric(_box_close, _box_distance)
IMAGE = _Metric(_image_close, _image_distance)


class _Rows:
    """Feature rows (n, D) with a key (class) and a pick number each, appended in pick order; the
    capacity doubles when full, so appending one pick's rows costs no copy of the others on average."""

    def __init__(self, d: int, dtype: torch.dtype, device: torch.device) -> None:
        self.f = torch.empty(0, d, dtype=dtype, device=device)  # (cap, D)
        self.key = torch.empty(0, dtype=torch.long, device=device)  # (cap,)
        self.step = torch.empty(0, dtype=torch.long, device=device)  # (cap,) ascending
        self.n = 0

    def add(self, f: torch.Tensor, key: torch.Tensor, step: int) -> None:
        """Append rows f (k, D) of classes key (k,) that came with pick ``step``."""
        k = len(f)
        if self.n + k > len(self.f):
            cap = max(2 * len(self.f), self.n + k, 64)
            for name in ("f", "key", "step"):
                old = getattr(self, name)
                new = old.new_empty((cap, *old.shape[1:]))
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.f[self.n : self.n + k] = f.to(self.f.dtype)
        self.key[self.n : self.n + k] = key
        self.step[self.n : self.n + k] = step
        self.n += k

    def since(self, t: int) -> slice:
        """The rows that came with pick ``t`` or later."""
        return slice(int(torch.searchsorted(self.step[: self.n], t)), self.n)


class _Picked:
    """What novelty compares with: the picked images' detection features (or image features), unit rows
    held as float32, each with its class (0 for image features), in one list and in one list per class.

    ``nearest`` finds, for a detection, the nearest picked one of its class, but only where it lies within
    the radius: farther, novelty is 1 whatever the distance. A float32 product finds the pairs that may lie
    within it (``metric.close``), and only those get the exact distance (``metric.distance``).
    """

    def __init__(self, d: int, radius: float, metric: _Metric, device: torch.device) -> None:
        self.d, self.device = d, device
        self.all = _Rows(d, torch.float32, device)
        self.by_key: dict[int, _Rows] = {}
        self.radius, self.metric = radius, metric

    def add(self, f: torch.Tensor, key: torch.Tensor, step: int) -> None:
        """Append pick ``step``'s rows f (k, D) of classes key (k,)."""
        self.all.add(f, key, step)
        for c in torch.unique(key).tolist():
            rows = self.by_key.setdefault(c, _Rows(self.d, torch.float32, self.device))
            rows.add(f[key == c], key[key == c], step)

    def nearest(self, x: torch.Tensor, key: torch.Tensor, since: int) -> torch.Tensor:
        """(X,) distance from each row of x (X, D) to the nearest row of its class added from pick ``since``
        on, where that lies within the radius; inf where none does."""
        out = torch.full((len(x),), math.inf, device=x.device)
        r = self.all.since(since)
        if not len(x) or r.start == r.stop:
            return out
        if r.stop - r.start <= ONE_BLOCK:  # one block, other classes masked
            return self._nearest_of(x, key, self.all.f[r], self.all.key[r])
        for c in torch.unique(key).tolist():  # per class: no distance to another class is computed
            rows = self.by_key.get(c)
            if rows is not None:
                xs = key == c
                out[xs] = self._nearest_of(x[xs], None, rows.f[rows.since(since)], None)
        return out

    def _nearest_of(
        self, x: torch.Tensor, key: torch.Tensor | None, y: torch.Tensor, ykey: torch.Tensor | None
    ) -> torch.Tensor:
        """(X,) distance from each row of x to the nearest row of y (of its class, with keys) within the
        radius, inf where none is; over blocks of y of bounded size."""
        out = torch.full((len(x),), math.inf, device=x.device)
        x32 = x.float()
        step = max(1, PAIRS // max(1, len(x) * x.shape[1]))
        for a in range(0, len(y), step):
            yb = y[a : a + step]
            close = self.metric.close(x32, yb, self.radius)  # (X, Y) pairs that may lie within the radius
            if key is not None and ykey is not None:
                close &= key[:, None] == ykey[None, a : a + step]
            i, j = torch.nonzero(close, as_tuple=True)
            if len(i):
                out.scatter_reduce_(0, i, self.metric.distance(x[i], yb[j]), reduce="amin")
        return out


class _Greedy:
    """One selection's state: the candidates (with their novelty as far as worked out), the bounds of the
    images outside them, the picks so far. ``pick()`` makes the next pick."""

    def __init__(
        self,
        boxes: Boxes,
        *,
        class_weights: torch.Tensor,
        counts: torch.Tensor,
        balance: float,
        radius: float,
        image_features: torch.Tensor | None,
        budget: int,
    ) -> None:
        self.boxes = boxes
        n, m = boxes.u.shape
        dev = boxes.u.device
        self.class_weights, self.balance = class_weights, balance
        self.have = counts.float().clamp(min=1.0)  # (C,) labelled objects, plus those expected in the picks
        self.mean = self.have.mean()
        self.radius = max(radius, EPS)
        self.slack = _slack(m, boxes.q.shape[-1])
        self.use_boxes = radius > 0 and boxes.f is not None
        self.f_img: torch.Tensor | None = None
        if radius > 0 and not self.use_boxes and image_features is not None:
            self.f_img = F.normalize(image_features.float(), dim=1)  # (N, D)
        self.picked: _Picked | None = None
        if self.use_boxes:
            assert boxes.f is not None
            self.picked = _Picked(boxes.f.shape[-1], self.radius, BOX, dev)
        elif self.f_img is not None:
            self.picked = _Picked(self.f_img.shape[1], self.radius, IMAGE, dev)
        # (N, C) every image's worth per unit class weight with novelty 1: its bound is mass @ weights
        self.mass = _by_rows(n, lambda r: _class_mass(boxes.u[r], boxes.q[r], torch.ones_like(boxes.u[r])))
        self.taken = torch.zeros(n, dtype=torch.bool, device=dev)
        self.outside = torch.ones(n, dtype=torch.bool, device=dev)
        self.t = 0  # picks so far
        # candidates, one row each
        self.idx = torch.empty(0, dtype=torch.long, device=dev)  # (T,) the image
        self.cmass = torch.empty(0, boxes.q.shape[-1], device=dev)  # (T, C) mass with the novelty known
        self.nov = torch.empty(0, m, device=dev)  # (T, m) box novelty known
        self.near = torch.empty(0, device=dev)  # (T,) image distance to the nearest pick known
        self.synced = torch.empty(0, dtype=torch.long, device=dev)  # (T,) picks the novelty accounts for
        self.ctaken = torch.empty(0, dtype=torch.bool, device=dev)  # (T,)
        # outsiders: the best by bound at the weights of the last refresh, and a bound of all the others
        self.queue = torch.empty(0, dtype=torch.long, device=dev)
        self.qbound = torch.empty(0, device=dev)
        self.qnext = 0
        self.qrest = -math.inf
        self.refreshed = -1  # the pick count at the last refresh
        self.refreshes = self.growths = 0
        self.w = self.weights()
        first = min(n, max(2 * budget, MIN_CANDIDATES))
        self.refresh(first)
        self.grow(first)
        self.growths = 0

    def weights(self) -> torch.Tensor:
        """(C,) the class weights now: they fall as ``have`` grows."""
        return self.class_weights * (self.mean / self.have) ** self.balance

    # outsiders

    def outside_bound(self) -> float:
        """An upper bound of the worth of every image outside the candidates."""
        return float(self.qbound[self.qnext]) if self.qnext < len(self.queue) else self.qrest

    def refresh(self, need: int = 0) -> None:
        """Bound every outsider at the weights now (they only fall from here) and queue the best of them,
        at least ``need`` (+1: the first left out bounds the rest)."""
        b = (self.mass @ self.w) * self.slack  # (N,)
        b = b.masked_fill(~self.outside, -math.inf)
        size = min(len(b), max(need, 2 * len(self.idx), 4 * MIN_CANDIDATES) + 1)
        vals, rows = b.topk(size)
        real = vals > -math.inf
        vals, rows = vals[real], rows[real]
        self.qrest = float(vals[-1]) if len(vals) == size and size < len(b) else -math.inf
        keep = len(vals) - (1 if self.qrest > -math.inf else 0)
        self.queue, self.qbound, self.qnext = rows[:keep], vals[:keep], 0
        self.refreshed = self.t
        self.refreshes += 1

    def grow(self, g: int) -> None:
        """Make the ``g`` best outsiders (by bound) candidates; their novelty is worked out when needed."""
        if self.qnext + g > len(self.queue) and self.qrest > -math.inf:
            self.refresh(g)
        rows = self.queue[self.qnext : self.qnext + g]
        self.qnext += len(rows)
        self.growths += 1
        k, m = len(rows), self.nov.shape[1]
        dev = self.idx.device
        self.outside[rows] = False
        self.idx = torch.cat([self.idx, rows])
        self.cmass = torch.cat([self.cmass, self.mass[rows]])
        self.nov = torch.cat([self.nov, torch.ones(k, m, device=dev)])
        self.near = torch.cat([self.near, torch.full((k,), math.inf, device=dev)])
        self.synced = torch.cat([self.synced, torch.zeros(k, dtype=torch.long, device=dev)])
        self.ctaken = torch.cat([self.ctaken, torch.zeros(k, dtype=torch.bool, device=dev)])

    # candidates

    def bounds(self) -> torch.Tensor:
        """(T,) an upper bound of each candidate's worth now, -inf for those picked."""
        b = (self.cmass @ self.w) * self.slack
        if self.f_img is not None:
            b = b * (self.near / self.radius).clamp(max=1.0)
        return b.masked_fill(self.ctaken, -math.inf)

    def sync(self, rows: torch.Tensor) -> None:
        """Bring the novelty of candidates ``rows`` up to the picks so far.

        Candidates are grouped by how many picks they lag (powers of two), and each group is compared with
        the picks from its most lagging member's on: a pick counted twice changes nothing (a minimum of
        exactly computed distances), and a group never compares with more than twice the picks it needs.
        """
        if self.picked is None:
            return
        rows = rows[self.synced[rows] < self.t]
        if not len(rows):
            return
        lag = torch.log2((self.t - self.synced[rows]).float()).floor().long()
        for g in torch.unique(lag).tolist():
            grp = rows[lag == g]
            since = int(self.synced[grp].min())
            img = self.idx[grp]
            if self.use_boxes:
                assert self.boxes.f is not None
                live = self.boxes.u[img] != 0  # (r, m) detections that add to the worth
                x = self.boxes.f[img][live]  # (X, D)
                cls = self.boxes.q[img].argmax(-1)[live]
                d = self.picked.nearest(x, cls, since)  # (X,)
                nov = self.nov[grp]
                nov[live] = torch.minimum(nov[live], (d / self.radius).clamp(max=1.0))
                self.nov[grp] = nov
                self.cmass[grp] = _class_mass(self.boxes.u[img], self.boxes.q[img], nov)
            else:
                assert self.f_img is not None
                d = self.picked.nearest(self.f_img[img], torch.zeros_like(img), since)
                self.near[grp] = torch.minimum(self.near[grp], d)
            self.synced[grp] = self.t

    def worth(self, rows: torch.Tensor) -> torch.Tensor:
        """(r,) the exact worth now of candidates ``rows``, their novelty brought up to date first."""
        self.sync(rows)
        img = self.idx[rows]
        v = _worth(self.boxes.u[img], self.boxes.q[img], self.nov[rows], self.w)
        if self.f_img is not None:
            v = v * (self.near[rows] / self.radius).clamp(max=1.0)
        return v

    # picking

    def pick(self) -> tuple[int, float]:
        """The next pick and its gain: the literal greedy's (the first image among equal best worths).

        The candidates with the highest bounds get their exact worth; the best of them is taken when its
        worth is above every other bound. Otherwise more candidates are looked at, or, when the outsiders'
        bound is in the way, the outsiders are bounded again at the weights now, or the best of them join.
        """
        look = FIRST_LOOK
        while True:
            b = self.bounds()
            vals, top = b.topk(min(look + 1, len(b)))
            seen = top[:look][vals[:look] > -math.inf]
            rest = float(vals[look]) if len(vals) > look else -math.inf
            best, row = -math.inf, -1
            if len(seen):
                v = self.worth(seen)
                best = float(v.max())
                tied = seen[v == best]
                row = int(tied[torch.argmin(self.idx[tied])])
            out = self.outside_bound()
            if best > max(rest, out):
                return row, best
            if max(best, rest, out) <= 0.0:  # all that is left is worth exactly 0
                return -1, 0.0
            if rest > out:
                look *= 2
            elif self.refreshed < self.t:
                self.refresh()
            else:
                self.grow(max(len(self.idx) // 2, MIN_CANDIDATES))

    def take(self, row: int, expected: torch.Tensor) -> int:
        """Record candidate ``row`` as picked; ``expected`` (C,) is the objects it is expected to hold."""
        i = int(self.idx[row])
        self.ctaken[row] = True
        self.taken[i] = True
        self.have = self.have + expected
        if self.picked is not None:
            if self.use_boxes:
                assert self.boxes.f is not None
                mine = self.boxes.s[i] > 0  # (m,)
                self.picked.add(self.boxes.f[i][mine], self.boxes.q[i].argmax(-1)[mine], self.t)
            else:
                assert self.f_img is not None
                self.picked.add(self.f_img[i : i + 1], self.idx.new_zeros(1), self.t)
        self.t += 1
        self.w = self.weights()
        return i

    def final_values(self) -> torch.Tensor:
        """(N,) every image's worth at the final weights with the novelty known (1 where never looked at)."""
        v = self.mass @ self.w  # (N,)
        rows = torch.nonzero(~self.ctaken).flatten()
        img = self.idx[rows]
        v[img] = _worth(self.boxes.u[img], self.boxes.q[img], self.nov[rows], self.w)
        if self.f_img is not None:
            v[img] = v[img] * (self.near[rows] / self.radius).clamp(max=1.0)
        return v


def balanced_order(
    boxes: Boxes,
    *,
    class_weights: torch.Tensor,
    counts: torch.Tensor,
    budget: int,
    balance: float,
    radius: float,
    image_features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy selection of ``budget`` images by uncertainty towards balanced classes, with novelty.

    An image is worth the sum over its detections of uncertainty x novelty x its class weight, the weight
    taken under the detection's class distribution (a detection half "ring" and half "circle" counts half
    at each class's weight). A class's weight is ``class_weights[c] * (mean count / count_c) ** balance``,
    the counts being the labelled objects of each class (``counts``, the model's training set) plus the
    objects the picked images are expected to hold (their detections' scores, spread over their class
    distributions): a class the labelled set lacks weighs more until the picks have filled it up.
    Novelty: with box features (``boxes.f``, float16 as ``image_boxes`` keeps them), min(1, distance to the
    nearest picked detection of the same (most likely) class / ``radius``), so objects like those already
    picked count less, whatever the rest of their images (PPAL's category-conditioned similarity); else,
    with ``image_features`` (N, D), min(1, distance of the image to the nearest picked image / radius);
    ``radius <= 0``: no novelty. Each time, the image worth most is picked (the first of equal ones).

    ``class_weights`` must not be negative: then weights and novelties only fall as images are picked, so
    the gains never rise and the selection need not look at most of the pool (see the module's docstring).
    It costs one pass over the pool, then per pick about C x (candidates) plus the pick's detections
    against the earlier picks' (budget^2 in all), not budget x pool.

    Returns:
        The picks (k,), k = min(budget, N), and a value per image (N,). A pick's: its gain, its worth when
        it was picked (the literal greedy's, see the module's docstring). An image not picked: its worth at
        the final weights with the novelty the selection worked out for it, 1 for the images it never
        looked at; that is its exact final worth or more, and never more than the last gain. So the values
        sort into the pick order (mir sorts by them), and the images not picked follow in a sensible order.
    """
    if not bool((class_weights >= 0).all()) or not bool(torch.isfinite(boxes.u).all()):
        raise ValueError(
            "balanced_order needs class weights >= 0 (a negative one would rise as the picks fill its class) "
            "and finite uncertainties (NaN or inf come from a diverged model)"
        )
    n = boxes.u.shape[0]
    k = max(0, min(budget, n))
    picks = torch.empty(k, dtype=torch.long, device=boxes.u.device)
    gains = torch.zeros(n, device=boxes.u.device)
    if n == 0:
        return picks, gains
    greedy = _Greedy(
        boxes,
        class_weights=class_weights,
        counts=counts,
        balance=balance,
        radius=radius,
        image_features=image_features,
        budget=k,
    )
    for t in range(k):
        row, gain = greedy.pick()
        if row < 0:  # the rest is worth 0: the first images left, in order, as the literal greedy takes them
            rest = torch.nonzero(~greedy.taken).flatten()[: k - t]
            picks[t:] = rest
            greedy.taken[rest] = True
            break
        i = int(greedy.idx[row])
        expected = (boxes.s[i : i + 1, :, None] * boxes.q[i : i + 1].float()).sum(1)[0]  # (C,)
        picks[t] = greedy.take(row, expected)
        gains[i] = gain
    log.debug(
        "balanced: %d picks of %d images from %d candidates (%d growths, %d refreshes)",
        k,
        n,
        len(greedy.idx),
        greedy.growths,
        greedy.refreshes,
    )
    rest = ~greedy.taken
    final = greedy.final_values()[rest]
    gains[rest] = torch.minimum(final, gains[picks[-1]]) if k else final  # the minimum only guards rounding
    return picks, gains
