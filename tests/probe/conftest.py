"""The probe is the installed `mini_service` package (`make install`); its tests import it as any user does."""
