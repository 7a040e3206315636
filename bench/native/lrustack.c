/*
 * lrustack.c: the one-pass LRU stack-distance algorithm of src/lab/stack.ts
 * (lruCurve) in C, the reference for `npm run bench`'s pdsim row: a
 * Fenwick tree over use times marks each page's last use, the distance is
 * 1 + the marks after it, and the times are renumbered in order when they
 * run past 4 x the distinct pages.
 *
 *   lrustack FILE DISTINCT   FILE: the page ids, int32 little-endian
 *   prints: ns per reference, then the faults at 1, 16, 256 and 4096 frames
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int32_t renumber(int32_t *tree, int32_t *page_at, int32_t *last, int32_t size) {
  int32_t k = 0;
  for (int32_t s = 0; s < size; s++) {
    int32_t x = page_at[s];
    if (last[x] != s) continue;
    last[x] = k;
    page_at[k++] = x;
  }
  memset(tree, 0, sizeof(int32_t) * (size_t)(size + 1));
  for (int32_t i = 1; i <= size; i++) {
    if (i <= k) tree[i]++;
    int32_t j = i + (i & -i);
    if (j <= size) tree[j] += tree[i];
  }
  return k;
}

static void lru_hist(const int32_t *refs, size_t n, int32_t distinct, double *hist) {
  int32_t size = 4 * distinct > 64 ? 4 * distinct : 64;
  int32_t *tree = calloc((size_t)size + 1, sizeof *tree);
  int32_t *page_at = calloc((size_t)size, sizeof *page_at);
  int32_t *last = malloc(sizeof *last * (size_t)distinct);
  memset(last, 0xff, sizeof *last * (size_t)distinct);
  int32_t now = 0, live = 0;
  for (size_t t = 0; t < n; t++) {
    if (now == size) now = renumber(tree, page_at, last, size);
    int32_t x = refs[t], p = last[x];
    if (p < 0) live++;
    else {
      int32_t before = 0;
      for (int32_t i = p + 1; i > 0; i -= i & -i) before += tree[i];
      hist[live - before + 1]++;
      for (int32_t i = p + 1; i <= size; i += i & -i) tree[i]--;
    }
    for (int32_t i = now + 1; i <= size; i += i & -i) tree[i]++;
    last[x] = now;
    page_at[now++] = x;
  }
  free(tree);
  free(page_at);
  free(last);
}

static double faults(const double *hist, int32_t distinct, size_t n, int32_t frames) {
  double hits = 0;
  for (int32_t d = 1; d <= frames && d <= distinct; d++) hits += hist[d];
  return (double)n - hits;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: lrustack FILE DISTINCT\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) return perror(argv[1]), 1;
  fseek(f, 0, SEEK_END);
  size_t n = (size_t)ftell(f) / 4;
  fseek(f, 0, SEEK_SET);
  int32_t *refs = malloc(n * 4);
  if (fread(refs, 4, n, f) != n) return perror("fread"), 1;
  fclose(f);
  int32_t distinct = atoi(argv[2]);
  double *hist = calloc((size_t)distinct + 2, sizeof *hist);
  struct timespec t0, t1;
  lru_hist(refs, n / 10, distinct, hist); /* warm-up */
  memset(hist, 0, sizeof *hist * ((size_t)distinct + 2));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  lru_hist(refs, n, distinct, hist);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
  printf("%.3f %.0f %.0f %.0f %.0f\n", ns / (double)n, faults(hist, distinct, n, 1),
         faults(hist, distinct, n, 16), faults(hist, distinct, n, 256), faults(hist, distinct, n, 4096));
  return 0;
}
