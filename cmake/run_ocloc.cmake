# Runs one ocloc compile and fails the build with ocloc's own log when it
# fails, or when it claims success without writing the expected file.
# Inputs: OCLOC, ARGS (;-list), EXPECT (output file).
execute_process(COMMAND ${OCLOC} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
if(NOT rc EQUAL 0 OR NOT EXISTS "${EXPECT}")
  string(REPLACE ";" " " cmdline "${OCLOC} ${ARGS}")
  message(FATAL_ERROR "ocloc failed (exit ${rc}):\n  ${cmdline}\n${log}")
endif()
