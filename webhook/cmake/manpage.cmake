# kadmit.1 from the binary's own --help: `kadmit --help` through help2man, plus a COMMANDS
# section holding each subcommand's --help, so the man page never drifts from the flags.
#   cmake -DKADMIT=build/kadmit -DHELP2MAN=/usr/bin/help2man -DOUT=kadmit.1 -P manpage.cmake
execute_process(COMMAND ${KADMIT} --help OUTPUT_VARIABLE usage RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kadmit --help failed (${rc})")
endif()
# the commands: the lines "  NAME  summary" of `kadmit --help` (cli.c's ka_cli_commands)
string(REGEX MATCHALL "\n  [a-z]+ " rows "${usage}")
set(commands "")
foreach(row ${rows})
  string(STRIP "${row}" cmd)
  list(APPEND commands ${cmd})
endforeach()
if(NOT commands)
  message(FATAL_ERROR "kadmit --help lists no commands")
endif()
set(include "[COMMANDS]\n")
foreach(cmd ${commands})
  execute_process(COMMAND ${KADMIT} ${cmd} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kadmit ${cmd} --help failed (${rc})")
  endif()
  # roff: backslashes escaped, lines that start with . or ' made literal
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(APPEND include ".SS kadmit ${cmd}\n.nf\n${help}.fi\n")
endforeach()
get_filename_component(dir ${OUT} DIRECTORY)
file(WRITE ${dir}/kadmit.h2m "${include}")
execute_process(
  COMMAND ${HELP2MAN} --no-info --section 1 --version-string=${VERSION}
          --name "Kubernetes admission webhook enforcing the production checklist for AI-agent workloads"
          --include ${dir}/kadmit.h2m --output ${OUT} ${KADMIT}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
