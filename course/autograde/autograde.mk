# autograde.mk — make autograde, make gradescope, make student-release (being written).
