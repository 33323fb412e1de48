; The IPTinCan Windows installer, IPTinCan_VERSION_x64-setup.exe: the one definition that both
; scripts/package --windows (Linux, Debian's makensis) and .github/workflows/windows.yml (the
; Windows runner's makensis) build. A per-user install (no administrator prompt) into
; %LOCALAPPDATA%\IPTinCan: the tray app, itc-server.exe, itc.exe, README.txt, wintun.dll (for the
; VPN) and, for a MinGW build, WebView2Loader.dll; a Start-menu entry; the itc:// link handler
; (HKCU\Software\Classes\itc, opened by the tray app with the link as its argument); the
; uninstaller, listed in "Installed apps"; the Microsoft Edge WebView2 Runtime (the tray app's
; window) where it is missing, by its bootstrapper when the build bundles it. Uninstalling removes
; the program and the app's autostart entry, and keeps the user's data unless the user agrees to
; delete it when asked (silent: kept; /S /DELETEDATA deletes it).
;
;   makensis -DVERSION=X.Y.Z -DSTAGE=FOLDER -DOUTFILE=SETUP.exe installer/windows/installer.nsi
;
; STAGE holds the files to install under their installed names. wintun.dll and the WebView2
; bootstrapper MicrosoftEdgeWebview2Setup.exe are optional here (the workflow downloads both; a
; build without wintun.dll has no VPN on Windows, one without the bootstrapper cannot install
; WebView2 and says so where it is missing).

!macro Required NAME
  !ifndef ${NAME}
    !error "${NAME} is missing: makensis -DVERSION=X.Y.Z -DSTAGE=FOLDER -DOUTFILE=SETUP.exe installer.nsi"
  !endif
!macroend
!insertmacro Required VERSION
!insertmacro Required STAGE
!insertmacro Required OUTFILE

; A 64-bit installer where makensis has the 64-bit stubs (Debian's has; it then runs under a
; 64-bit-only Wine), else a 32-bit one (the official Windows NSIS), which installs the same.
!if /FileExists "${NSISDIR}/Stubs/lzma_solid-amd64-unicode"
  Target amd64-unicode
!else
  Unicode true
!endif

!define PRODUCT "IPTinCan"
!define APP_EXE "iptincan-tray.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
; The tray app's data folder (Tauri's app_data_dir and app_local_data_dir: its identifier).
!define DATA_FOLDER "com.iptincan.tray"
; The tray app's "start with Windows" entry (tauri-plugin-autostart: a value named after the
; product in the Run key, and its Task Manager switch in StartupApproved\Run).
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define STARTUP_APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
; The Evergreen WebView2 Runtime's client id: its "pv" value is the installed version.
!define WEBVIEW2_CLIENT "Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_SETUP "MicrosoftEdgeWebview2Setup.exe"
; makensis works in this script's folder.
!define ROOT "../.."

Name "${PRODUCT}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\${PRODUCT}"
InstallDirRegKey HKCU "Software\${PRODUCT}" "InstallDir"
SetCompressor /SOLID lzma
ManifestDPIAware true
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} ${VERSION} setup"
VIAddVersionKey "CompanyName" "${PRODUCT}"
VIAddVersionKey "LegalCopyright" "${PRODUCT}"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"

!define MUI_ICON "${ROOT}/src-tauri/icons/icon.ico"
!define MUI_UNICON "${ROOT}/src-tauri/icons/icon.ico"
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${PRODUCT}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; A running program cannot be overwritten on Windows: offer to close it first (silent: close it).
!macro CloseIfRunning EXE
  ClearErrors
  ${If} ${FileExists} "$INSTDIR\${EXE}"
    FileOpen $0 "$INSTDIR\${EXE}" a
    ${If} ${Errors}
      MessageBox MB_OKCANCEL|MB_ICONEXCLAMATION "${EXE} is running. Close it to continue?" /SD IDOK IDOK +2
      Abort
      nsExec::Exec 'taskkill /F /IM "${EXE}"'
      Pop $0
      Sleep 1000
    ${Else}
      FileClose $0
    ${EndIf}
  ${EndIf}
!macroend

; Sets $0 to the installed WebView2 Runtime's version, "" when there is none (per machine, in the
; 32-bit registry view, or per user).
!macro WebView2Version
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\${WEBVIEW2_CLIENT}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\${WEBVIEW2_CLIENT}" "pv"
  ${EndIf}
  ${If} $0 == "0.0.0.0"
    StrCpy $0 ""
  ${EndIf}
!macroend

; Installs the WebView2 Runtime when it is missing (Windows 10 and 11 mostly have it), with the
; bundled bootstrapper, which downloads it from Microsoft.
Function InstallWebView2
  !insertmacro WebView2Version
  ${If} $0 != ""
    DetailPrint "WebView2 Runtime $0 is installed"
    Return
  ${EndIf}
  !if /FileExists "${STAGE}/${WEBVIEW2_SETUP}"
    InitPluginsDir
    SetOutPath "$PLUGINSDIR"
    File "${STAGE}/${WEBVIEW2_SETUP}"
    DetailPrint "Installing the Microsoft Edge WebView2 Runtime"
    ExecWait '"$PLUGINSDIR\${WEBVIEW2_SETUP}" /silent /install' $1
    Delete "$PLUGINSDIR\${WEBVIEW2_SETUP}"
    SetOutPath "$INSTDIR"
    !insertmacro WebView2Version
    ${If} $0 == ""
      MessageBox MB_OK|MB_ICONEXCLAMATION "The Microsoft Edge WebView2 Runtime could not be installed (exit code $1). ${PRODUCT} needs it for its window: install it from https://developer.microsoft.com/microsoft-edge/webview2/" /SD IDOK
    ${EndIf}
  !else
    !warning "${WEBVIEW2_SETUP} is not in ${STAGE}: this installer cannot install WebView2 where it is missing"
    MessageBox MB_OK|MB_ICONINFORMATION "${PRODUCT} needs the Microsoft Edge WebView2 Runtime for its window, and it is not installed: install it from https://developer.microsoft.com/microsoft-edge/webview2/" /SD IDOK
  !endif
FunctionEnd

Section "${PRODUCT}"
  SectionIn RO
  !insertmacro CloseIfRunning "${APP_EXE}"
  !insertmacro CloseIfRunning "itc-server.exe"
  SetOutPath "$INSTDIR"
  File "${STAGE}/${APP_EXE}"
  File "${STAGE}/itc-server.exe"
  File "${STAGE}/itc.exe"
  File "${STAGE}/README.txt"
  !if /FileExists "${STAGE}/WebView2Loader.dll"
    File "${STAGE}/WebView2Loader.dll"
  !endif
  !if /FileExists "${STAGE}/wintun.dll"
    File "${STAGE}/wintun.dll"
  !else
    !warning "wintun.dll is not in ${STAGE}: this installer has no VPN on Windows"
  !endif
  WriteUninstaller "$INSTDIR\uninstall.exe"
  Call InstallWebView2

  CreateDirectory "$SMPROGRAMS\${PRODUCT}"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}\${PRODUCT}.lnk" "$INSTDIR\${APP_EXE}"

  ; itc://join/ITC-… links open the app (the deep-link plugin reads the link from its arguments).
  WriteRegStr HKCU "Software\Classes\itc" "" "URL:${PRODUCT} invite"
  WriteRegStr HKCU "Software\Classes\itc" "URL Protocol" ""
  WriteRegStr HKCU "Software\Classes\itc\DefaultIcon" "" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "Software\Classes\itc\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'

  WriteRegStr HKCU "Software\${PRODUCT}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  !insertmacro CloseIfRunning "${APP_EXE}"
  !insertmacro CloseIfRunning "itc-server.exe"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\itc-server.exe"
  ; What itc-server's self-update leaves beside it.
  Delete "$INSTDIR\itc-server.previous.exe"
  Delete "$INSTDIR\itc.exe"
  Delete "$INSTDIR\README.txt"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\wintun.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT}\${PRODUCT}.lnk"
  RMDir "$SMPROGRAMS\${PRODUCT}"
  DeleteRegKey HKCU "Software\Classes\itc"
  DeleteRegKey HKCU "Software\${PRODUCT}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; The autostart entry the app made (per user; per machine too where the app could write it and
  ; this uninstaller can delete it).
  DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
  DeleteRegValue HKCU "${STARTUP_APPROVED_KEY}" "${PRODUCT}"
  DeleteRegValue HKLM "${RUN_KEY}" "${PRODUCT}"
  DeleteRegValue HKLM "${STARTUP_APPROVED_KEY}" "${PRODUCT}"

  ; The user's data: kept unless the user says to delete it (silent: only with /DELETEDATA).
  ; Folders an itc-server was run on with --data-dir elsewhere are never touched.
  ${un.GetParameters} $R0
  ClearErrors
  ${un.GetOptions} $R0 "/DELETEDATA" $R1
  ${If} ${Errors}
    MessageBox MB_YESNO|MB_ICONQUESTION|MB_DEFBUTTON2 "Also delete your ${PRODUCT} data?$\r$\n$\r$\nThis deletes the app's settings and, if this computer runs your family's server, its messages, members, files and backups ($APPDATA\${DATA_FOLDER}), and itc's saved servers ($APPDATA\itc). It cannot be undone. Choose No to keep them for a later install." /SD IDNO IDNO keep
  ${EndIf}
  RMDir /r "$APPDATA\${DATA_FOLDER}"
  RMDir /r "$LOCALAPPDATA\${DATA_FOLDER}"
  RMDir /r "$APPDATA\itc"
  keep:
SectionEnd
