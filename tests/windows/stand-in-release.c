/* A stand-in "newer release" of itc-server.exe for scripts/test-windows' self-update check under
 * Wine (the Windows counterpart of tests/common/release.rs' wrapper script): it runs the real
 * debug itc-server.exe (REAL, fixed when compiled) with its own arguments and with
 * ITC_TEST_VERSION=VERSION, which debug builds report as their version. Built with -DBROKEN it
 * still reports VERSION to `--version` but stops at once otherwise: a release that fails its
 * trial run. The real server runs in a job that closes with this program, so stopping the
 * stand-in (TerminateProcess, as the updater's trial run does on Windows) stops it too.
 *
 *   x86_64-w64-mingw32-gcc -O2 -s -DREAL='"Z:\\path\\itc-server.exe"' -DVERSION='"0.2.1"' \
 *       -o itc-server.exe stand-in-release.c
 */
#include <windows.h>
#include <wchar.h>
#include <stdlib.h>

#define WIDEN2(text) L##text
#define WIDEN(text) WIDEN2(text)

/* The command line after the program's own name. */
static const wchar_t *arguments(const wchar_t *line) {
    if (*line == L'"') {
        line++;
        while (*line && *line != L'"') line++;
        if (*line) line++;
    } else {
        while (*line && *line != L' ' && *line != L'\t') line++;
    }
    return line;
}

int main(void) {
    const wchar_t *rest = arguments(GetCommandLineW());
#ifdef BROKEN
    if (!wcsstr(rest, L"--version")) return 3;
#endif
    size_t size = wcslen(WIDEN(REAL)) + wcslen(rest) + 3;
    wchar_t *command = calloc(size, sizeof(wchar_t));
    if (!command) return 2;
    swprintf(command, size, L"\"%ls\"%ls", WIDEN(REAL), rest);
    if (!SetEnvironmentVariableW(L"ITC_TEST_VERSION", WIDEN(VERSION))) return 2;

    HANDLE job = CreateJobObjectW(NULL, NULL);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {0};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!job || !SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits)) return 2;

    STARTUPINFOW startup = {0};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION process = {0};
    if (!CreateProcessW(NULL, command, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &startup, &process)) return 2;
    if (!AssignProcessToJobObject(job, process.hProcess)) {
        TerminateProcess(process.hProcess, 2);
        return 2;
    }
    ResumeThread(process.hThread);
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code = 2;
    GetExitCodeProcess(process.hProcess, &code);
    return (int)code;
}
