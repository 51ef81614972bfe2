/* Test-only, for running Windows test binaries under Wine 8.0 (Debian 12), which has no
   bcryptprimitives.dll. Rust's std (>= 1.78) imports ProcessPrng from it on Windows, so without
   this every Rust .exe fails at load (exit 53). Forwards to BCryptGenRandom, which Wine has.
   Built and copied into the Wine prefix by scripts/setup-xbuild.sh; never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
