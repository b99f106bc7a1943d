// Intentionally empty: CGDCM exists to carry GDCM's compiler and linker flags (orthocxr-gdcm.pc) to
// CDicom, which includes GDCM's C++ headers itself.
