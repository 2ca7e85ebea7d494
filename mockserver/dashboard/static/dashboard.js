// lbmock dashboard: small progressive enhancements; every page works without them.
"use strict";
