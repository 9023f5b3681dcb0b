# zemla_header_only_package(<package> <target> <header>): the CMake package
# when it is installed, else an interface target over the directory holding
# <header> (searched in ZEMLA_EXTRA_INCLUDE too). CLI11 and nlohmann-json
# are header-only, so a machine without Debian's -dev packages can carry
# their headers instead.
function(zemla_header_only_package package target header)
  find_package(${package} CONFIG QUIET)
  if(NOT TARGET ${target})
    find_path(${package}_HEADER_DIR ${header} HINTS "${ZEMLA_EXTRA_INCLUDE}" REQUIRED)
    add_library(${target} INTERFACE IMPORTED GLOBAL)
    target_include_directories(${target} INTERFACE "${${package}_HEADER_DIR}")
  endif()
endfunction()
