; Inno Setup script for TFSWA Studio on Windows (NOT TESTED HERE: written on Linux, built by
; .github/workflows/packaging.yml on a Windows runner). Input: the one-folder bundle that
; packaging/tfswa-studio.spec makes (dist\tfswa-studio). Build:
;   pyinstaller --noconfirm --distpath dist packaging\tfswa-studio.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\tfswa-studio.iss
; Installs per user by default (no administrator needed), with a Start-menu entry, an
; optional desktop shortcut and an uninstaller that removes every installed file.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "TFSWA Studio"
#define BundleDir "..\..\dist\tfswa-studio"

[Setup]
AppId={{6A4F0C2E-8D7B-4B8E-9C51-2F0F3A7E5B11}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=TFSWA Studio
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=tfswa-studio-{#AppVersion}-windows-x64-setup
SetupIconFile=tfswa-studio.ico
UninstallDisplayIcon={app}\tfswa-studio.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
LicenseFile=..\..\LICENSE

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\tfswa-studio.exe"
Name: "{group}\{#AppName} self-test"; Filename: "{app}\tfswa-studio.exe"; Parameters: "--self-test"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\tfswa-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\tfswa-studio.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
