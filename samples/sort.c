#include <stdio.h>
#include <stdlib.h>
static int cmp(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
int main(void) {
  enum { N = 3000 };
  int *v = malloc(N * sizeof *v);
  unsigned s = 12345;
  for (int i = 0; i < N; i++) { s = s * 1103515245u + 12345u; v[i] = (int)(s >> 8); }
  qsort(v, N, sizeof *v, cmp);
  long sum = 0;
  for (int i = 0; i < N; i += 97) sum += v[i];
  printf("%ld\n", sum);
  free(v);
  return 0;
}
