# Writes OUT as IN with every `#include "x"` replaced by x's text (recursively;
# x is found beside the including file, else under ROOT, the repository root,
# as the compilers' `-I` finds it), so the OpenCL C source path can hand a
# device compiler one self-contained string. Macros stay unexpanded: variant
# and dtype are chosen by build options at run time, exactly as for ocloc.
# The text is handled whole (file(READ) + string(REPLACE)): reading it line by
# line through a CMake list would eat every ';'.
function(zemla_inline file out_var depth)
  if(depth GREATER 8)
    message(FATAL_ERROR "include nesting too deep at ${file}")
  endif()
  get_filename_component(dir "${file}" DIRECTORY)
  file(READ "${file}" text)
  string(REGEX MATCHALL "\n[ \t]*#[ \t]*include[ \t]+\"[^\"\n]+\"" directives "\n${text}")
  foreach(directive IN LISTS directives)
    string(REGEX REPLACE ".*\"([^\"]+)\"" "\\1" name "${directive}")
    math(EXPR next "${depth} + 1")
    set(path "${dir}/${name}")
    if(NOT EXISTS "${path}")
      set(path "${ROOT}/${name}")
    endif()
    zemla_inline("${path}" inner ${next})
    string(STRIP "${directive}" directive)
    string(REPLACE "${directive}" "${inner}" text "${text}")
  endforeach()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

zemla_inline("${IN}" text 0)
file(WRITE "${OUT}" "${text}")
