/* What native/plan.c parses from an encoded plan on stdin, printed as JSON: test/plan-layout.test.ts
 * compares it with the plan src/kernel/plan.ts encoded, which holds the two sides to one layout.
 * Built by the test against the project's own plan.c and plan.h. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>

static void put_string(const char *s) {
  if (!s) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void put_list(char **items) {
  putchar('[');
  for (int k = 0; items && items[k]; k++) {
    if (k) putchar(',');
    put_string(items[k]);
  }
  putchar(']');
}

int main(void) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  if (!buf) return 2;
  struct plan p;
  const char *err = plan_parse(buf, len, &p);
  if (err) {
    printf("{\"error\":");
    put_string(err);
    printf("}\n");
    return 0;
  }
  printf("{\"cloneFlags\":%lld,\"stdio\":[%d,%d,%d],\"keep\":[", (long long)p.clone_flags, p.stdio[0], p.stdio[1], p.stdio[2]);
  for (int k = 0; k < p.nkeep; k++) printf("%s%d", k ? "," : "", p.keep[k]);
  printf("],\"steps\":[");
  for (int s = 0; s < p.nsteps; s++) {
    const struct plan_step *st = &p.steps[s];
    printf("%s{\"op\":%lld,\"i\":[", s ? "," : "", (long long)st->op);
    for (int k = 0; k < 7; k++) printf("%s\"%lld\"", k ? "," : "", (long long)st->i[k]);
    printf("],\"s\":[");
    for (int k = 0; k < 4; k++) {
      if (k) putchar(',');
      put_string(st->s[k]);
    }
    printf("],\"list0\":");
    put_list(st->list0);
    printf(",\"list1\":");
    put_list(st->list1);
    printf(",\"gids\":[");
    for (int k = 0; st->gids && k < st->i[0]; k++) printf("%s%u", k ? "," : "", (unsigned)st->gids[k]);
    printf("],\"blob\":\"");
    for (size_t k = 0; k < st->blob_len; k++) printf("%02x", ((const unsigned char *)st->blob)[k]);
    printf("\"}");
  }
  printf("]}\n");
  plan_free(&p);
  free(buf);
  return 0;
}
