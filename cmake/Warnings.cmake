# Warning flags for claimcheck's own targets. CI builds with -DCLAIMCHECK_WERROR=ON.
function(claimcheck_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wno-sign-conversion)
  if(CLAIMCHECK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
