/**
 * The synthesised stack's suites, in one test file: each file of its own would load aws-cdk-lib
 * and synthesise the stack again (about 10 CPU-s each); here they share one synthesis
 * (synthStack() remembers the default stack).
 */
import './stack.suite';
import './security.suite';
import './operations.suite';
import './answers.suite';
import './control-plane.suite';
import './main.suite';
