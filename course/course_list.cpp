// course_list.cpp — see course_list.hpp. (Being written.)
