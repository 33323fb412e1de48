; The IPTinCan Windows installer, IPTinCan_VERSION_x64-setup.exe: the one definition that both
; scripts/package --windows (Linux, Debian's makensis) and .github/workflows/windows.yml (the
; Windows runner's makensis) build. A per-user install (no administrator prompt) into
; %LOCALAPPDATA%\IPTinCan: the tray app, itc-server.exe, itc.exe, README.txt, wintun.dll (for the
; VPN) and, for a MinGW build, WebView2Loader.dll; a Start-menu entry; the itc:// link handler
; (HKCU\Software\Classes\itc, opened by the tray app with the link as its argument); the
; uninstaller, listed in "Installed apps". Uninstalling removes the program and keeps the user's
; data (%APPDATA%\com.iptincan.tray and any itc-server data folder).
;
;   makensis -DVERSION=X.Y.Z -DSTAGE=FOLDER -DOUTFILE=SETUP.exe installer/windows/installer.nsi
;
; STAGE holds the files to install under their installed names. wintun.dll is optional here
; (the workflow downloads it; a build without it says so and has no VPN on Windows).

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
  ; The user's data (%APPDATA%\com.iptincan.tray, itc-server data folders) is kept.
SectionEnd
