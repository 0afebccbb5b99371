/* csvnorm.c: normalise simple CSV (no delimiter, quote or newline inside fields) for round-trip comparison:
 * strip surrounding quotes; a field that strtod parses whole becomes %.17g; "", NA, NaN become empty.
 * With -H the header line is dropped. Reads stdin, writes stdout. Independent of gravrd's reader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int skip_header = argc > 1 && !strcmp(argv[1], "-H");
    static char line[1 << 16];
    long ln = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (ln++ == 0 && skip_header) continue;
        char *p = line;
        for (int k = 0;; k++) {
            char *e = strchr(p, ',');
            if (e) *e = 0;
            size_t l = strlen(p);
            if (l >= 2 && p[0] == '"' && p[l - 1] == '"') { p[l - 1] = 0; p++; }
            char *end;
            double v = strtod(p, &end);
            if (k) putchar(',');
            if (!*p || !strcmp(p, "NA") || !strcmp(p, "NaN")) ;
            else if (*end == 0 && isfinite(v)) printf("%.17g", v);
            else fputs(p, stdout);
            if (!e) break;
            p = e + 1;
        }
        putchar('\n');
    }
    return 0;
}
