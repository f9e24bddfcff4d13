/*
 * bcryptprimitives.dll for Wine 8, which has no such DLL: Rust's standard
 * library (1.78 and later) takes its randomness from ProcessPrng there, so
 * without it ebb.exe does not start under Wine. This forwards ProcessPrng
 * to RtlGenRandom (advapi32's SystemFunction036), which Wine has. Only for
 * the smoke test (scripts/windows-smoke.sh puts it in the Wine prefix's
 * system32); Windows 10 and later have the real one, and ebb.exe never
 * ships with this.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *            bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* As documented: fills `data` with `len` random bytes; always TRUE on
 * Windows, FALSE here only if RtlGenRandom fails. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
