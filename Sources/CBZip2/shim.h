// libbz2 from the system (libbz2-dev on Debian), for the SpamAssassin corpus's .tar.bz2 files.
#include <bzlib.h>
