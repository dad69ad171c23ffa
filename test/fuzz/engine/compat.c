/*
 * The three functions that Jazzer.js's prebuilt libFuzzer engine
 * (@jazzer.js/fuzzer, built against glibc 2.38 and GCC 13's libstdc++) needs
 * and Debian 12 (glibc 2.36, libstdc++ of GCC 12) does not have. Loaded with
 * LD_PRELOAD by test/fuzz/engine/jazzer.ts, only when the prebuilt does not
 * load as it is; nothing of qgate itself ever runs with it.
 */
#include <stdlib.h>

/*
 * glibc 2.38 redirects strtol/strtoul to these when compiling for C23; the
 * only difference is that they also read a "0b" binary prefix for base 0 or 2.
 * libFuzzer parses its decimal flags (-runs=, -max_len=) with them.
 */
long __isoc23_strtol(const char *text, char **end, int base) { return strtol(text, end, base); }
unsigned long __isoc23_strtoul(const char *text, char **end, int base) { return strtoul(text, end, base); }

/*
 * std::ios_base_library_init(): GCC 13's <iostream> only names it, so that the
 * library that sets up std::cout is linked; it is never called. Node.js links
 * libstdc++ itself, whose iostreams are set up by then.
 */
void _ZSt21ios_base_library_initv(void) {}
