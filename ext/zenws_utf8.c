/* zenws_utf8.c - incremental UTF-8 validator: ASCII fast path + byte-class DFA.
 *
 * Byte classes (Unicode 15, Table 3-7 "Well-Formed UTF-8 Byte Sequences"):
 *   0: 00..7F  1: 80..8F  2: 90..9F  3: A0..BF  4: C0 C1 F5..FF (never valid)
 *   5: C2..DF  6: E0  7: E1..EC EE EF  8: ED  9: F0  10: F1..F3  11: F4
 * States:
 *   0 accept, 1/2/3 need 1/2/3 continuation bytes (80..BF),
 *   4 after E0 (next A0..BF), 5 after ED (next 80..9F, no surrogates),
 *   6 after F0 (next 90..BF), 7 after F4 (next 80..8F, <= U+10FFFF), 8 reject.
 * Each restricted second byte is what makes overlongs/surrogates/out-of-range
 * fail at that byte rather than at the end of the sequence. */
#include "zenws_utf8.h"
#include "zenws_compat.h"

#include <string.h>

static const uint8_t byte_class[256] = {
    /* 00..7F */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    /* 80..8F */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 90..9F */ 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    /* A0..BF */ 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,
    /* C0..DF */ 4,4,5,5,5,5,5,5,5,5,5,5,5,5,5,5, 5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,
    /* E0..EF */ 6,7,7,7,7,7,7,7,7,7,7,7,7,8,7,7,
    /* F0..FF */ 9,10,10,10,11,4,4,4,4,4,4,4,4,4,4,4,
};

#define R ZENWS_UTF8_REJECT
static const uint8_t transition[9][12] = {
    /*         00  80  90  A0  bad C2  E0  E1  ED  F0  F1  F4 */
    /* 0 */  { 0,  R,  R,  R,  R,  1,  4,  2,  5,  6,  3,  7 },
    /* 1 */  { R,  0,  0,  0,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 2 */  { R,  1,  1,  1,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 3 */  { R,  2,  2,  2,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 4 */  { R,  R,  R,  1,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 5 */  { R,  1,  1,  R,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 6 */  { R,  R,  2,  2,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 7 */  { R,  2,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 8 */  { R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R },
};
#undef R

#define ZENWS_HIGH_BITS 0x8080808080808080ULL

uint32_t zenws_utf8_feed(uint32_t state, const unsigned char *p, size_t n, size_t *bad) {
    size_t i = 0;
    if (state >= ZENWS_UTF8_REJECT) {
        if (bad) *bad = 0;
        return ZENWS_UTF8_REJECT;
    }
    while (i < n) {
        if (state == ZENWS_UTF8_ACCEPT) {
            /* ASCII fast path: 16 then 8 bytes at a time while no high bit is set. */
            while (i + 16 <= n) {
                uint64_t a, b;
                memcpy(&a, p + i, 8);
                memcpy(&b, p + i + 8, 8);
                if ((a | b) & ZENWS_HIGH_BITS) break;
                i += 16;
            }
            while (i + 8 <= n) {
                uint64_t a;
                memcpy(&a, p + i, 8);
                if (a & ZENWS_HIGH_BITS) break;
                i += 8;
            }
            while (i < n && p[i] < 0x80) i++;
            if (i == n) break;
        }
        state = transition[state][byte_class[p[i]]];
        if (ZENWS_UNLIKELY(state == ZENWS_UTF8_REJECT)) {
            if (bad) *bad = i;
            return state;
        }
        i++;
    }
    return state;
}

int zenws_utf8_valid(const unsigned char *p, size_t n) {
    return zenws_utf8_feed(ZENWS_UTF8_ACCEPT, p, n, NULL) == ZENWS_UTF8_ACCEPT;
}
