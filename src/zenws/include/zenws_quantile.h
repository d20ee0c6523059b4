/* zenws_quantile.h - order statistics over int64 samples without a full sort.
 * No Python API here.
 *
 * Selection is Floyd-Rivest (CACM Algorithm 489, 1975) with a heap-select
 * fallback when a range stops shrinking, so the worst case stays
 * O(n log n) while the expected cost is ~1.5 n comparisons.  Several ranks
 * are selected in one pass: in ascending order, each selection working on
 * the part to the right of the previous rank (which the previous selection
 * already partitioned).
 *
 * Quantile definition: nearest rank exactly as
 * numpy.percentile(x, q, method="inverted_cdf") (Hyndman & Fan definition 1):
 * numpy computes the virtual index v = n * (q / 100) - 1 in float64, takes
 * floor(v) when v is an integer and floor(v) + 1 otherwise, and clips at 0.
 * That is ceil(n * (q / 100)) - 1 clipped to [0, n - 1], using the same two
 * float64 roundings (q / 100, then the product) as numpy. */
#ifndef ZENWS_QUANTILE_H
#define ZENWS_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZENWS_Q_OK 0
#define ZENWS_Q_EINVAL (-1) /* a q is NaN or outside [0, 100], or n == 0 */
#define ZENWS_Q_ENOMEM (-2)

/* Partition rounds a range may take beyond 2*log2(n) before the O(n log k)
 * heap-select fallback takes over (default 8).  Tests set it negative to run
 * the fallback on every range; not meant to be changed otherwise. */
extern int zenws_quantile_budget_extra;

/* 0-based index into the sorted samples that quantile q (percent) picks,
 * for n >= 1 samples.  q must be within [0, 100] (checked by the callers). */
size_t zenws_quantile_rank(size_t n, double q);

/* Reorder a[0..n) so that a[k] is the k-th smallest value, every a[i] with
 * i < k is <= a[k] and every a[i] with i > k is >= a[k].  k < n. */
void zenws_select_i64(int64_t *a, size_t n, size_t k);

/* Select every rank in ranks[0..m) (ascending, duplicates allowed, each < n)
 * in one pass; afterwards a[ranks[i]] is the ranks[i]-th smallest value. */
void zenws_multiselect_i64(int64_t *a, size_t n, const size_t *ranks, size_t m);

/* out[i] = quantile qs[i] (percent, any order) of a[0..n), reordering a.
 * Returns ZENWS_Q_OK, ZENWS_Q_EINVAL (n == 0 or a q outside [0, 100] or
 * NaN; nothing written) or ZENWS_Q_ENOMEM. */
int zenws_quantiles_i64(int64_t *a, size_t n, const double *qs, size_t m, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_QUANTILE_H */
