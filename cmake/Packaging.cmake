# Install layout and the Debian package (issue 6; files under packaging/).
#
# `cmake --install` and the .deb install the same tree: cpack runs these very install rules
# with DESTDIR, under the same CMAKE_INSTALL_PREFIX. The binaries' own install() rules live
# next to them (cli/, node-agent/, controller/); this file adds the systemd units, the default
# configuration and the directories, and the CPack DEB settings.
#
#   <prefix>/bin/layerseal{,-agent,-controller}
#   /lib/systemd/system/layerseal-agent.service, layerseal-controller.service  (prefix /usr)
#   /etc/layerseal/agent.yaml, controller.yaml, policy.yaml   (conffiles)
#   /var/lib/layerseal                                        (the agent's state)
#   /run/layerseal is the agent unit's RuntimeDirectory, made by systemd at start.
#
# Build the package:  cmake --build BUILD --target layerseal layerseal-agent layerseal-controller
#                     cd BUILD && cpack -G DEB        (or: cmake --build BUILD --target package)

# The units and the configuration name absolute paths (ExecStart, policy, stateDir), so they
# are made for one prefix. A system daemon belongs in /usr, and /usr is also the prefix for
# which GNUInstallDirs puts the configuration in /etc and the state in /var: make it the
# default instead of /usr/local.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX "/usr" CACHE PATH "Install prefix" FORCE)
endif()
include(GNUInstallDirs)

set(LAYERSEAL_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(LAYERSEAL_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/layerseal")
set(LAYERSEAL_STATEDIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/layerseal")
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "layerseal: install prefix ${CMAKE_INSTALL_PREFIX}; the .deb is meant for /usr (-DCMAKE_INSTALL_PREFIX=/usr)")
endif()
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(LAYERSEAL_UNITDIR "/lib/systemd/system")  # Debian 12's place for packaged units
else()
  set(LAYERSEAL_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()

set(LAYERSEAL_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(LAYERSEAL_PACKAGING_OUT "${PROJECT_BINARY_DIR}/packaging")
foreach(unit layerseal-agent.service layerseal-controller.service)
  configure_file(${LAYERSEAL_PACKAGING_DIR}/systemd/${unit}.in ${LAYERSEAL_PACKAGING_OUT}/${unit} @ONLY)
endforeach()
foreach(conf agent.yaml controller.yaml policy.yaml)
  configure_file(${LAYERSEAL_PACKAGING_DIR}/config/${conf}.in ${LAYERSEAL_PACKAGING_OUT}/${conf} @ONLY)
endforeach()
configure_file(${LAYERSEAL_PACKAGING_DIR}/deb/conffiles.in ${LAYERSEAL_PACKAGING_OUT}/deb/conffiles @ONLY)
foreach(script postinst prerm postrm)
  configure_file(${LAYERSEAL_PACKAGING_DIR}/deb/${script}.in ${LAYERSEAL_PACKAGING_OUT}/deb/${script}
    @ONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
endforeach()

install(FILES ${LAYERSEAL_PACKAGING_OUT}/layerseal-agent.service
              ${LAYERSEAL_PACKAGING_OUT}/layerseal-controller.service
        DESTINATION ${LAYERSEAL_UNITDIR})
# agent.yaml and controller.yaml may name key files: readable by root only.
install(FILES ${LAYERSEAL_PACKAGING_OUT}/agent.yaml ${LAYERSEAL_PACKAGING_OUT}/controller.yaml
              ${LAYERSEAL_PACKAGING_OUT}/policy.yaml
        DESTINATION ${LAYERSEAL_CONFDIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(DIRECTORY DESTINATION ${LAYERSEAL_STATEDIR}
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)

# ---- CPack: one .deb, "layerseal" -------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "layerseal")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "layerseal")
set(CPACK_PACKAGE_CONTACT "layerseal maintainers <layerseal@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Kubernetes node agent that admits only signed container images")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")  # the same tree as cmake --install
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # layerseal_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Stripped, as cmake --install --strip would (the same files, without debug information).
set(CPACK_STRIP_FILES TRUE)
# The first line of the control file's Description is the summary above; this is the rest.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "layerseal-agent is a CRI proxy between the kubelet and the container runtime
(containerd, CRI-O): it verifies each image's signature seal and integrity seal
against the node policy before the image is pulled. The package also holds the
layerseal command (keygen, sign, verify, inspect, events) and layerseal-controller,
which collects the agents' verdicts over mutual TLS.

The agent is installed but not enabled: point the kubelet at
/run/layerseal/layerseal.sock first (see /etc/layerseal/agent.yaml). The default
policy is audit mode, which records verdicts and never blocks a pull.")
# Depends: from the binaries' shared libraries when dpkg-shlibdeps is there (dpkg-dev);
# otherwise Debian 12's runtime packages of what CMakeLists.txt links, listed by hand.
find_program(LAYERSEAL_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(LAYERSEAL_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libstdc++6, libgcc-s1, libgrpc++1.51, libgrpc29, libc-ares2, libre2-9, libprotobuf32, libabsl20220623, libssl3, libcurl4, zlib1g, libyaml-cpp0.7, libsqlite3-0, libpq5, libcpp-httplib0.11, libcbor0.8, libzstd1")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "containerd | cri-o")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${LAYERSEAL_PACKAGING_OUT}/deb/conffiles ${LAYERSEAL_PACKAGING_OUT}/deb/postinst
  ${LAYERSEAL_PACKAGING_OUT}/deb/prerm ${LAYERSEAL_PACKAGING_OUT}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

# ---- The Helm chart archive (issue 19): build/layerseal-<version>.tgz --------------------
# Helm's layout (`helm package`): one top directory named after the chart. The chart's
# version and appVersion are the project's; a mismatch stops the configure step. Built by
# every build (target layerseal-chart), next to the .deb; tests/integration/helm_chart_test.cc
# checks it.
set(LAYERSEAL_CHART_DIR "${LAYERSEAL_PACKAGING_DIR}/helm/layerseal")
file(STRINGS "${LAYERSEAL_CHART_DIR}/Chart.yaml" _layerseal_chart_lines REGEX "^(version|appVersion):")
foreach(_line ${_layerseal_chart_lines})
  string(REGEX REPLACE "^(version|appVersion): *\"?([^\" ]*)\"? *$" "\\1;\\2" _kv "${_line}")
  list(GET _kv 0 _key)
  list(GET _kv 1 _value)
  if(NOT _value STREQUAL PROJECT_VERSION)
    message(FATAL_ERROR "packaging/helm/layerseal/Chart.yaml: ${_key} is \"${_value}\", the project's "
      "version is ${PROJECT_VERSION} (CMakeLists.txt project()); make them the same")
  endif()
  set(_layerseal_chart_${_key} TRUE)
endforeach()
if(NOT _layerseal_chart_version OR NOT _layerseal_chart_appVersion)
  message(FATAL_ERROR "packaging/helm/layerseal/Chart.yaml: no version or appVersion line")
endif()
file(GLOB_RECURSE LAYERSEAL_CHART_FILES CONFIGURE_DEPENDS "${LAYERSEAL_CHART_DIR}/*")
set(LAYERSEAL_CHART_ARCHIVE "${PROJECT_BINARY_DIR}/layerseal-${PROJECT_VERSION}.tgz")
set(_layerseal_chart_stage "${PROJECT_BINARY_DIR}/packaging/helm-stage")
add_custom_command(OUTPUT ${LAYERSEAL_CHART_ARCHIVE}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${_layerseal_chart_stage}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_layerseal_chart_stage}
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${LAYERSEAL_CHART_DIR} ${_layerseal_chart_stage}/layerseal
  COMMAND ${CMAKE_COMMAND} -E chdir ${_layerseal_chart_stage}
          ${CMAKE_COMMAND} -E tar czf ${LAYERSEAL_CHART_ARCHIVE} --format=gnutar "--mtime=1970-01-01 00:00:00 UTC" layerseal
  DEPENDS ${LAYERSEAL_CHART_FILES}
  COMMENT "Helm chart archive layerseal-${PROJECT_VERSION}.tgz"
  VERBATIM)
add_custom_target(layerseal-chart ALL DEPENDS ${LAYERSEAL_CHART_ARCHIVE})
