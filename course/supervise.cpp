// supervise.cpp — see supervise.hpp. (Being written: a placeholder so the tree builds.)
#include "supervise.hpp"
