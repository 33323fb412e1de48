/* A stand-in MicrosoftEdgeWebview2Setup.exe (the WebView2 Runtime's bootstrapper, which the
 * Windows workflow downloads) for scripts/test-windows under Wine, which has no WebView2: it
 * appends its arguments as one line to the file MARKER (fixed when compiled) and registers the
 * runtime per user as the real one does (the "pv" version value under EdgeUpdate's client key),
 * so the test sees whether the installer ran it, how, and that it does not run it again.
 *
 *   x86_64-w64-mingw32-gcc -O2 -s -DMARKER='"Z:\\path\\webview2-setup.txt"' \
 *       -o MicrosoftEdgeWebview2Setup.exe webview2-setup.c -ladvapi32
 */
#include <windows.h>
#include <stdio.h>

#define CLIENT_KEY L"Software\\Microsoft\\EdgeUpdate\\Clients\\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
#define TEST_VERSION L"120.0.2210.91"

int main(int argc, char **argv) {
    FILE *marker = fopen(MARKER, "a");
    if (!marker) return 2;
    for (int i = 1; i < argc; i++) fprintf(marker, i > 1 ? " %s" : "%s", argv[i]);
    fputc('\n', marker);
    fclose(marker);
    LSTATUS status = RegSetKeyValueW(HKEY_CURRENT_USER, CLIENT_KEY, L"pv", REG_SZ, TEST_VERSION,
                                     (DWORD)sizeof TEST_VERSION);
    return status == ERROR_SUCCESS ? 0 : 3;
}
