// report.cpp — see report.hpp. (Being written.)
