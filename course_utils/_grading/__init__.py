"""Files for :mod:`course_utils.grade`: the ``sitecustomize`` every grading kernel imports."""
