# Regenerate the rule tables of README.md and policies/README.md (the lines between the
# `<!-- rules:begin` and `<!-- rules:end -->` markers) from `kadmit rules -o markdown`.
#   cmake -DKADMIT=build/kadmit -DSOURCE_DIR=. -P webhook/cmake/rules_docs.cmake
# (or `cmake --build build --target rules-docs`). tests/integration/test_rules.sh fails until the
# tables match, so a new rule's row is generated, never typed.
execute_process(COMMAND ${KADMIT} rules -o markdown OUTPUT_VARIABLE table RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kadmit rules -o markdown failed (${rc})")
endif()
foreach(doc README.md policies/README.md)
  file(READ ${SOURCE_DIR}/${doc} text)
  string(FIND "${text}" "<!-- rules:begin" begin)
  string(FIND "${text}" "<!-- rules:end -->" end)
  if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
    message(FATAL_ERROR "${doc}: no <!-- rules:begin ... --> / <!-- rules:end --> markers")
  endif()
  string(SUBSTRING "${text}" ${begin} -1 rest)
  string(FIND "${rest}" "\n" eol)
  math(EXPR head_len "${begin} + ${eol} + 1")
  string(SUBSTRING "${text}" 0 ${head_len} head)
  string(SUBSTRING "${text}" ${end} -1 tail)
  set(new "${head}${table}${tail}")
  if(NOT new STREQUAL text)
    file(WRITE ${SOURCE_DIR}/${doc} "${new}")
    message(STATUS "${doc}: rule table regenerated")
  endif()
endforeach()
