/* zenws_quantile.c - Floyd-Rivest selection over int64 and nearest-rank
 * quantiles matching numpy's "inverted_cdf" method.  See zenws_quantile.h. */
#include "zenws_quantile.h"

#include <math.h>
#include <stdlib.h>

#include "zenws_compat.h"

/* Ranges above this size pick their pivot from a recursively selected sample
 * (the constant from Floyd & Rivest's paper); below it the pivot is a[k]. */
#define FR_SAMPLE_CUTOFF 600

/* Extra partition rounds allowed per range before heap_select takes over.
 * A variable, not a constant, so tests can force the fallback at run time. */
int zenws_quantile_budget_extra = 8;

/* Stack space for rank bookkeeping in zenws_quantiles_i64; more q's malloc. */
#define Q_STACK 32

typedef ptrdiff_t idx_t;

ZENWS_INLINE void swap64(int64_t *a, idx_t i, idx_t j) {
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

size_t zenws_quantile_rank(size_t n, double q) {
    /* numpy: v = n * (q / 100) - 1 (float64), res = v if v is integral else
     * floor(v) + 1, clipped at 0.  For p = n * (q / 100) >= 1, p - 1 is exact
     * in float64, so res == ceil(p) - 1; for p < 1 both give 0 after the clip.
     * Computing ceil(p) - 1 in integers keeps the compiler from fusing the
     * "- 1" into an FMA (which would skip numpy's rounding of the product). */
    double p = (double)n * (q / 100.0);
    double c = ceil(p);
    if (!(c >= 1.0)) return 0;
    if (c >= (double)n) return n - 1;
    return (size_t)c - 1;
}

/* Max-heap sift-down on h[0..len) (h points at the range start). */
static void sift_down(int64_t *h, idx_t root, idx_t len) {
    int64_t v = h[root];
    for (;;) {
        idx_t child = 2 * root + 1;
        if (child >= len) break;
        if (child + 1 < len && h[child + 1] > h[child]) child++;
        if (h[child] <= v) break;
        h[root] = h[child];
        root = child;
    }
    h[root] = v;
}

/* Fallback selection in O(n log k): keep the (k - left + 1) smallest values
 * of a[left..right] in a max-heap at a[left..k]; its top is the k-th. */
static void heap_select(int64_t *a, idx_t left, idx_t right, idx_t k) {
    int64_t *h = a + left;
    idx_t len = k - left + 1;
    for (idx_t i = len / 2; i-- > 0;) sift_down(h, i, len);
    for (idx_t i = k + 1; i <= right; i++) {
        if (a[i] < h[0]) {
            swap64(a, i, left);
            sift_down(h, 0, len);
        }
    }
    /* Everything after k is >= the top; move the top to k. */
    swap64(a, left, k);
}

static unsigned ilog2(size_t n) {
    unsigned r = 0;
    while (n >>= 1) r++;
    return r;
}

/* Elements per block in the block partition (offsets fit in a byte). */
#define BLOCK 64

/* Partition a[left..right] around t = a[left].  Afterwards a[left..p) < t
 * (<= t when `le`), a[p] == t and a(p..right] >= t (> t when `le`); returns
 * p.  On random data a compare-and-branch partition mispredicts half the
 * time, so this is a block partition (Edelkamp & Weiss, "BlockQuicksort",
 * ESA 2016): the positions of misplaced values in a block of BLOCK elements
 * from each end are collected without branches, then swapped pairwise. */
#define GOES_LEFT(x) (le ? (x) <= t : (x) < t)
static idx_t partition_block(int64_t *a, idx_t left, idx_t right, int le) {
    const int64_t t = a[left];
    unsigned char off_l[BLOCK], off_r[BLOCK];
    idx_t l = left + 1, r = right; /* a[left+1..l) go left, a(r..right] go right */
    int num_l = 0, num_r = 0, start_l = 0, start_r = 0;
    while (r - l + 1 > 2 * BLOCK) {
        if (num_l == 0) {
            start_l = 0;
            for (int i = 0; i < BLOCK; i++) {
                off_l[num_l] = (unsigned char)i;
                num_l += !GOES_LEFT(a[l + i]);
            }
        }
        if (num_r == 0) {
            start_r = 0;
            for (int i = 0; i < BLOCK; i++) {
                off_r[num_r] = (unsigned char)i;
                num_r += GOES_LEFT(a[r - i]);
            }
        }
        int num = num_l < num_r ? num_l : num_r;
        for (int j = 0; j < num; j++) {
            swap64(a, l + off_l[start_l + j], r - off_r[start_r + j]);
        }
        num_l -= num;
        num_r -= num;
        start_l += num;
        start_r += num;
        if (num_l == 0) l += BLOCK;
        if (num_r == 0) r -= BLOCK;
    }
    /* The middle a[l..r] (under 3 blocks; pending offsets are simply
     * forgotten) is finished with a plain Lomuto pass. */
    idx_t store = l;
    for (idx_t i = l; i <= r; i++) {
        if (GOES_LEFT(a[i])) {
            swap64(a, i, store);
            store++;
        }
    }
    swap64(a, left, store - 1);
    return store - 1;
}
#undef GOES_LEFT

/* Floyd-Rivest SELECT on the inclusive range a[left..right]. */
static void fr_select(int64_t *a, idx_t left, idx_t right, idx_t k) {
    /* Each round normally shrinks the range by a large factor; a range that
     * keeps not shrinking (adversarial order) goes to heap_select. */
    int budget = 2 * (int)ilog2((size_t)(right - left + 1)) + zenws_quantile_budget_extra;
    int have_prev = 0;
    int64_t prev = 0;
    while (right > left) {
        if (ZENWS_UNLIKELY(--budget < 0)) {
            heap_select(a, left, right, k);
            return;
        }
        if (right - left > FR_SAMPLE_CUTOFF) {
            /* Select k within a sample around its expected position so that
             * a[k] becomes a pivot very close to the target rank. */
            double n = (double)(right - left + 1);
            double i = (double)(k - left + 1);
            double z = log(n);
            double s = 0.5 * exp(2.0 * z / 3.0);
            double sd = 0.5 * sqrt(z * s * (n - s) / n) * (i < n / 2 ? -1.0 : 1.0);
            double lo = (double)k - i * s / n + sd;
            double hi = (double)k + (n - i) * s / n + sd;
            idx_t nl = lo > (double)left ? (idx_t)lo : left;
            idx_t nr = hi < (double)right ? (idx_t)hi : right;
            fr_select(a, nl, nr, k);
        }
        int64_t t = a[k];
        swap64(a, left, k);
        /* A range right of a pivot holds values >= that pivot.  Drawing the
         * same value again means it is the minimum here and probably heavily
         * duplicated: split off the whole run of equal values with "<=" so
         * the range always shrinks (all-equal input finishes in one round). */
        int le = have_prev && t == prev;
        idx_t p = partition_block(a, left, right, le);
        if (p == k) return;
        if (k < p) {
            right = p - 1;
            have_prev = 0;
        } else {
            left = p + 1;
            have_prev = 1;
            prev = t;
        }
    }
}

void zenws_select_i64(int64_t *a, size_t n, size_t k) {
    if (n < 2 || k >= n) return;
    fr_select(a, 0, (idx_t)n - 1, (idx_t)k);
}

void zenws_multiselect_i64(int64_t *a, size_t n, const size_t *ranks, size_t m) {
    /* After selecting rank r, a[r+1..n) holds exactly the values above rank
     * r, so the next (larger) rank is selected within that right part only. */
    size_t lo = 0;
    for (size_t i = 0; i < m; i++) {
        size_t r = ranks[i];
        if (r < lo || r >= n) continue; /* duplicate (already in place) */
        fr_select(a, (idx_t)lo, (idx_t)n - 1, (idx_t)r);
        lo = r + 1;
    }
}

typedef struct {
    size_t rank;
    size_t pos;
} rank_pos_t;

static int cmp_rank(const void *x, const void *y) {
    size_t a = ((const rank_pos_t *)x)->rank, b = ((const rank_pos_t *)y)->rank;
    return (a > b) - (a < b);
}

int zenws_quantiles_i64(int64_t *a, size_t n, const double *qs, size_t m, int64_t *out) {
    rank_pos_t stack_rp[Q_STACK];
    size_t stack_r[Q_STACK];
    rank_pos_t *rp = stack_rp;
    size_t *ranks = stack_r;
    if (n == 0) return ZENWS_Q_EINVAL;
    for (size_t i = 0; i < m; i++) {
        if (!(qs[i] >= 0.0 && qs[i] <= 100.0)) return ZENWS_Q_EINVAL;
    }
    if (m > Q_STACK) {
        rp = (rank_pos_t *)malloc(m * sizeof(*rp));
        ranks = (size_t *)malloc(m * sizeof(*ranks));
        if (rp == NULL || ranks == NULL) {
            free(rp);
            free(ranks);
            return ZENWS_Q_ENOMEM;
        }
    }
    for (size_t i = 0; i < m; i++) {
        rp[i].rank = zenws_quantile_rank(n, qs[i]);
        rp[i].pos = i;
    }
    qsort(rp, m, sizeof(*rp), cmp_rank);
    for (size_t i = 0; i < m; i++) ranks[i] = rp[i].rank;
    zenws_multiselect_i64(a, n, ranks, m);
    for (size_t i = 0; i < m; i++) out[rp[i].pos] = a[rp[i].rank];
    if (rp != stack_rp) {
        free(rp);
        free(ranks);
    }
    return ZENWS_Q_OK;
}
