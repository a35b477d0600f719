"""The CrossGuard policy pack folder (a package only so that it ships in the wheel)."""
